//! Who may see and do what in the web console: the one place that decides it. An owner
//! sees and changes everything; an agent sees and answers only the leads of the accounts
//! they are given (reply, resume, convert, block) and nothing of plugins, grants, accounts,
//! imports, exports, the audit or the analytics.

use std::collections::BTreeSet;

/// A console user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Agent,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Owner, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

/// What one console user may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    /// The accounts an agent is given (an owner's are all, and this is empty).
    pub accounts: BTreeSet<i64>,
}

impl Access {
    pub fn owner() -> Self {
        Access {
            role: Role::Owner,
            accounts: BTreeSet::new(),
        }
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    /// Whether the leads of `account_id` are this user's to see and answer.
    pub fn sees_account(&self, account_id: i64) -> bool {
        self.is_owner() || self.accounts.contains(&account_id)
    }

    /// The accounts a list must be narrowed to: `None` for an owner (all of them).
    pub fn account_filter(&self) -> Option<Vec<i64>> {
        (!self.is_owner()).then(|| self.accounts.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_sees_only_the_accounts_given() {
        let agent = Access {
            role: Role::Agent,
            accounts: BTreeSet::from([2, 3]),
        };
        assert!(agent.sees_account(2) && agent.sees_account(3));
        assert!(!agent.sees_account(1));
        assert_eq!(agent.account_filter(), Some(vec![2, 3]));
        let nobody = Access {
            role: Role::Agent,
            accounts: BTreeSet::new(),
        };
        assert!(!nobody.sees_account(1));
        assert_eq!(nobody.account_filter(), Some(vec![]));
        assert!(Access::owner().sees_account(1));
        assert_eq!(Access::owner().account_filter(), None);
    }

    #[test]
    fn roles_read_back_as_written() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
