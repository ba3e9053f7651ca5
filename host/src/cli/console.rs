//! `outreach console user add|list|set|remove`: who may log in to the web console, and
//! what they may reach there (an owner everything; an agent the leads of their accounts).

use std::io::BufRead as _;

use anyhow::Context as _;
use clap::Subcommand;

use super::App;
use super::data::OPERATOR;
use super::output::safe;
use crate::domain::console_access::Role;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Console users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (or set a new password, which ends their sessions). The password is read
    /// from the first line of standard input, so it never shows in the shell history.
    Add {
        name: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Every console user, their role and an agent's accounts.
    List,
    /// Change a user's role or accounts; it applies from their next request.
    Set {
        name: String,
        #[command(flatten)]
        access: AccessArgs,
    },
    /// Remove a user; their sessions end at once.
    Remove { name: String },
}

#[derive(Debug, clap::Args)]
pub struct AccessArgs {
    /// owner: everything; agent: the leads and conversations of --accounts only (reply,
    /// resume, convert, block), no plugins, accounts, imports, exports, audit or analytics.
    /// A new user is an owner unless told; an existing one keeps their role unless told.
    #[arg(long, value_parser = ["owner", "agent"])]
    role: Option<String>,
    /// An agent's accounts, by name, comma-separated (replacing those they had).
    #[arg(long, value_delimiter = ',')]
    accounts: Vec<String>,
}

/// The shortest password accepted.
const PASSWORD_MIN_CHARS: usize = 12;

pub fn run(app: &App, cmd: ConsoleCommand) -> anyhow::Result<()> {
    let ConsoleCommand::User(cmd) = cmd;
    match cmd {
        UserCommand::Add { name, access } => add(app, &name, &access),
        UserCommand::List => list(app),
        UserCommand::Set { name, access } => {
            app.db.write(|tx| {
                anyhow::ensure!(
                    store::console::user_access(tx, &name)?.is_some(),
                    "no console user {:?} (`outreach console user list` shows them)",
                    safe(&name)
                );
                let (role, accounts) = resolve(tx, &name, &access)?;
                store::console::set_access(tx, &name, role, &accounts)?;
                audit(tx, app, "console.user.set", &name)
            })?;
            println!(
                "console user {name} is now {}",
                app.db.read(|c| describe(c, &name))?
            );
            Ok(())
        }
        UserCommand::Remove { name } => {
            app.db.write(|tx| {
                anyhow::ensure!(
                    store::console::remove_user(tx, &name)?,
                    "no console user {:?} (`outreach console user list` shows them)",
                    safe(&name)
                );
                store::audit::record_action(
                    tx,
                    OPERATOR,
                    "console.user.remove",
                    None,
                    true,
                    &format!("user {name}"),
                    app.now(),
                )
            })?;
            println!("console user {name} removed; their sessions ended");
            Ok(())
        }
    }
}

fn add(app: &App, name: &str, access: &AccessArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::console::valid_user_name(name),
        "console user name {:?}: 1-64 letters, digits, '.', '_' or '-'",
        safe(name)
    );
    // The role and accounts are checked before the password is asked for.
    app.db.read(|c| resolve(c, name, access).map(|_| ()))?;
    eprintln!("password for {name} (one line on standard input):");
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        password.chars().count() >= PASSWORD_MIN_CHARS,
        "the password is shorter than {PASSWORD_MIN_CHARS} characters"
    );
    let hash = crate::console::hash_password(password)?;
    app.db.write(|tx| {
        let (role, accounts) = resolve(tx, name, access)?;
        store::console::add_user(tx, name, &hash, app.now())?;
        store::console::set_access(tx, name, role, &accounts)?;
        audit(tx, app, "console.user.add", name)
    })?;
    println!(
        "console user {name} ({}) can log in at /console of `outreach serve`",
        app.db.read(|c| describe(c, name))?
    );
    Ok(())
}

fn list(app: &App) -> anyhow::Result<()> {
    let users = app.db.read(store::console::users)?;
    if users.is_empty() {
        println!("no console users: `outreach console user add NAME` adds one");
    }
    for user in users {
        let password = match user.has_password {
            true => "",
            false => " (login link only, no password)",
        };
        println!("{}\t{}{password}", user.name, reach(&user));
    }
    Ok(())
}

/// The role and account ids `access` asks for `user`: what is not given stays as the user
/// has it (a new user is an owner). An error names an unknown account, or accounts given
/// to an owner, or an agent without any.
fn resolve(
    conn: &crate::store::Conn<'_>,
    user: &str,
    access: &AccessArgs,
) -> anyhow::Result<(Role, Vec<i64>)> {
    let current = store::console::user_access(conn, user)?;
    let role = match (&access.role, &current) {
        (Some(role), _) => Role::parse(role).context("the role is owner or agent")?,
        (None, Some(current)) => current.role,
        (None, None) => Role::Owner,
    };
    if access.accounts.is_empty()
        && let Some(current) = current.filter(|c| c.role == role)
    {
        return Ok((role, current.accounts.into_iter().collect()));
    }
    let known = store::accounts::list(conn)?;
    let mut ids = Vec::new();
    for name in access
        .accounts
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        let account = known.iter().find(|a| a.name == name).with_context(|| {
            format!(
                "no account {:?} (`outreach account list` shows them)",
                safe(name)
            )
        })?;
        ids.push(account.id);
    }
    match role {
        Role::Owner => anyhow::ensure!(
            ids.is_empty(),
            "an owner reaches every account: --accounts is for --role agent"
        ),
        Role::Agent => anyhow::ensure!(
            !ids.is_empty(),
            "an agent needs --accounts: the accounts whose leads they answer"
        ),
    }
    Ok((role, ids))
}

/// `owner`, or `agent of shop, shop2`: what `user` may reach as stored.
fn describe(conn: &crate::store::Conn<'_>, user: &str) -> anyhow::Result<String> {
    let row = store::console::users(conn)?
        .into_iter()
        .find(|row| row.name == user)
        .with_context(|| format!("no console user {:?}", safe(user)))?;
    Ok(reach(&row))
}

fn reach(user: &store::console::UserRow) -> String {
    match user.role {
        Role::Owner => "owner".into(),
        Role::Agent if user.accounts.is_empty() => "agent of no account".into(),
        Role::Agent => format!("agent of {}", user.accounts.join(", ")),
    }
}

fn audit(tx: &crate::store::Conn<'_>, app: &App, action: &str, name: &str) -> anyhow::Result<()> {
    let detail = format!("user {name}: {}", describe(tx, name)?);
    store::audit::record_action(tx, OPERATOR, action, None, true, &detail, app.now())
}
