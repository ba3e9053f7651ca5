//! TLS to PostgreSQL as the connection string's `sslmode` and `sslrootcert` ask, against a
//! real server with TLS on: `./test.sh` starts it on 127.0.0.1 with a certificate issued
//! for `localhost` by a test authority (`ca.pem`), and makes a second authority nobody
//! trusts (`other-ca.pem`), both in `OUTREACH_TEST_POSTGRES_TLS_DIR`.

use outreach_store::Db;
use outreach_store::testing::PostgresScratch;

/// `host=localhost port=… user=…` of the TLS server, and its certificates' directory.
fn tls_server() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run ./test.sh, which starts PostgreSQL with TLS and sets it")
        })
    };
    (
        var("OUTREACH_TEST_POSTGRES_TLS"),
        var("OUTREACH_TEST_POSTGRES_TLS_DIR"),
    )
}

/// Whether the connection `db` uses is encrypted, as the server sees it.
fn encrypted(db: &Db) -> bool {
    db.read(|c| {
        Ok(c.query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            [],
            |r| r.get(0),
        )?)
    })
    .unwrap()
}

fn open(scratch: &PostgresScratch, server: &str, tls: &str) -> anyhow::Result<Db> {
    Db::open_postgres(&format!("{} {tls}", scratch.conninfo_via(server)))
}

#[test]
fn verify_full_checks_the_authority_and_the_host_name() {
    let (server, dir) = tls_server();
    let scratch = PostgresScratch::empty("tls_verify_full");
    let db = open(
        &scratch,
        &server,
        &format!("sslmode=verify-full sslrootcert={dir}/ca.pem"),
    )
    .expect("the trusted server");
    assert!(encrypted(&db));
    let description = db.describe().unwrap();
    assert!(
        description.contains("connected over TLSv1."),
        "{description}"
    );

    // A certificate from an authority not trusted: refused, saying why.
    let refused = open(
        &scratch,
        &server,
        &format!("sslmode=verify-full sslrootcert={dir}/other-ca.pem"),
    )
    .err()
    .expect("an untrusted certificate");
    let message = format!("{refused:#}");
    assert!(
        message.contains("cannot connect to PostgreSQL") && message.contains("certificate"),
        "{message}"
    );

    // The right authority but another name (the certificate is for `localhost`).
    let by_address = server.replace("host=localhost", "host=127.0.0.1");
    let refused = open(
        &scratch,
        &by_address,
        &format!("sslmode=verify-full sslrootcert={dir}/ca.pem"),
    )
    .err()
    .expect("a certificate for another name");
    assert!(
        format!("{refused:#}").contains("certificate"),
        "{refused:#}"
    );
    // verify-ca checks the authority only, so the address is fine there.
    let db = open(
        &scratch,
        &by_address,
        &format!("sslmode=verify-ca sslrootcert={dir}/ca.pem"),
    )
    .expect("verify-ca by address");
    assert!(encrypted(&db));
    let refused = open(
        &scratch,
        &by_address,
        &format!("sslmode=verify-ca sslrootcert={dir}/other-ca.pem"),
    );
    assert!(refused.is_err(), "verify-ca with an untrusted authority");
}

#[test]
fn require_encrypts_checking_only_what_it_is_given_and_disable_does_not_encrypt() {
    let (server, dir) = tls_server();
    let scratch = PostgresScratch::empty("tls_require");
    // As libpq: require encrypts without a check…
    assert!(encrypted(
        &open(&scratch, &server, "sslmode=require").unwrap()
    ));
    // …unless given an authority, which it then checks.
    assert!(
        open(
            &scratch,
            &server,
            &format!("sslmode=require sslrootcert={dir}/ca.pem")
        )
        .is_ok()
    );
    let refused = open(
        &scratch,
        &server,
        &format!("sslmode=require sslrootcert={dir}/other-ca.pem"),
    );
    assert!(refused.is_err(), "require with an untrusted authority");
    // prefer, the default, encrypts when the server offers it.
    assert!(encrypted(&open(&scratch, &server, "").unwrap()));
    assert!(!encrypted(
        &open(&scratch, &server, "sslmode=disable").unwrap()
    ));
    // The same settings in URL form: checked, not just encrypted.
    let url = |ca: &str| {
        format!(
            "postgres://postgres@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
            setting(&server, "port"),
            scratch.conninfo().rsplit("dbname=").next().unwrap(),
            format!("{dir}/{ca}").replace('/', "%2F"),
        )
    };
    assert!(encrypted(&Db::open_postgres(&url("ca.pem")).unwrap()));
    assert!(Db::open_postgres(&url("other-ca.pem")).is_err());
}

#[test]
fn a_password_login_over_tls_is_bound_to_the_certificate_of_the_server() {
    let (server, dir) = tls_server();
    let scratch = PostgresScratch::empty("tls_channel_binding");
    // test.sh lets this role in over TLS by a SCRAM password exchange only (pg_hba.conf).
    scratch.run("DROP ROLE IF EXISTS outreach_scram");
    scratch.run("CREATE ROLE outreach_scram LOGIN SUPERUSER PASSWORD 'channel-binding-test'");
    let as_role = |password: &str| {
        server.replace(
            "user=postgres",
            &format!("user=outreach_scram password={password}"),
        )
    };
    let verified = format!("sslmode=verify-full sslrootcert={dir}/ca.pem");
    // channel_binding=require: SCRAM-SHA-256-PLUS or no connection. The server checks the
    // hash of its certificate the client sends, so this holds only if that hash is right.
    let db = open(
        &scratch,
        &as_role("channel-binding-test"),
        &format!("{verified} channel_binding=require"),
    )
    .expect("a login bound to the TLS channel");
    assert!(encrypted(&db));
    // A password login indeed: the wrong one is refused.
    let refused = open(&scratch, &as_role("wrong"), &verified)
        .err()
        .expect("a wrong password");
    assert!(
        format!("{refused:#}").contains("password authentication failed"),
        "{refused:#}"
    );
    // And a login with nothing to bind (trust) is refused when binding is required.
    let refused = open(
        &scratch,
        &server,
        &format!("{verified} channel_binding=require"),
    )
    .err()
    .expect("no channel binding with trust");
    assert!(
        format!("{refused:#}").contains("channel binding"),
        "{refused:#}"
    );
}

#[test]
fn a_unix_socket_listed_before_a_tls_host_is_used_as_libpq_would() {
    let (server, _) = tls_server();
    let socket = std::env::var("OUTREACH_TEST_POSTGRES").expect("set by ./test.sh");
    let socket_dir = setting(&socket, "host");
    let scratch = PostgresScratch::empty("tls_socket_first");
    // TLS is on (a TCP host is named), so the socket is asked for it too, says no, and is
    // used unencrypted, as `prefer` allows: the first host answers.
    let both = server.replace("host=localhost", &format!("host={socket_dir},localhost"));
    let db = open(&scratch, &both, "").expect("the socket, then the TLS host");
    assert!(!encrypted(&db));
    let over_socket: bool = db
        .read(|c| Ok(c.query_row("SELECT inet_server_addr() IS NULL", [], |r| r.get(0))?))
        .unwrap();
    assert!(over_socket, "the socket, listed first, was skipped");
}

#[test]
fn a_wrong_sslmode_is_named_before_connecting() {
    let (server, _) = tls_server();
    let scratch = PostgresScratch::empty("tls_wrong_mode");
    let refused = open(&scratch, &server, "sslmode=verify-always")
        .err()
        .unwrap();
    assert!(
        format!("{refused:#}").contains("sslmode=verify-always is not one of"),
        "{refused:#}"
    );
}

/// The value of `key` in a libpq `key=value` connection string.
fn setting<'a>(conninfo: &'a str, key: &str) -> &'a str {
    conninfo
        .split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {conninfo}"))
}
