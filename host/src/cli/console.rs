//! `outreach console user add NAME`: who may log in to the web console.

use std::io::BufRead as _;

use clap::Subcommand;

use super::App;
use super::output::safe;
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
    Add { name: String },
}

/// The shortest password accepted.
const PASSWORD_MIN_CHARS: usize = 12;

pub fn run(app: &App, cmd: ConsoleCommand) -> anyhow::Result<()> {
    let ConsoleCommand::User(UserCommand::Add { name }) = cmd;
    anyhow::ensure!(
        crate::console::valid_user_name(&name),
        "console user name {:?}: 1-64 letters, digits, '.', '_' or '-'",
        safe(&name)
    );
    eprintln!("password for {name} (one line on standard input):");
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        password.chars().count() >= PASSWORD_MIN_CHARS,
        "the password is shorter than {PASSWORD_MIN_CHARS} characters"
    );
    let hash = crate::console::hash_password(password)?;
    app.db
        .write(|tx| store::console::add_user(tx, &name, &hash, app.now()))?;
    println!("console user {name} can log in at /console of `outreach serve`");
    Ok(())
}
