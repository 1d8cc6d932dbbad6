//! TLS against a real server with `ssl = on` and a certificate from a test
//! CA made with the `openssl` command: each sslmode does what libpq's does.

use std::path::Path;
use std::process::Command;

use sidik_pg::{Session, SessionOptions};
use sidik_testpg::Cluster;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate for `localhost` signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=sidik test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    // Another CA that signed nothing here.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
            "-days",
            "2",
            "-subj",
            "/CN=someone else",
        ],
    );
}

async fn encrypted(url: &str) -> Result<bool, String> {
    let s = Session::connect(url, &SessionOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let t = s
        .query_read_only(
            "tls?",
            "SELECT ssl::text AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(t.first("ssl") == Some("true"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_encrypts_and_checks_like_libpq() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    certificates(d);
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    let pg = Cluster::builder()
        .file("server.crt", &read("server.crt"))
        .file("server.key", &read("server.key"))
        .setting("ssl", "on")
        .setting("ssl_cert_file", "'server.crt'")
        .setting("ssl_key_file", "'server.key'")
        .start()
        .expect("test cluster with TLS");
    let port = pg.port();
    let ca = d.join("ca.crt");
    let other = d.join("other.crt");
    let url = |host: &str, q: &str| format!("postgres://postgres@{host}:{port}/postgres?{q}");

    assert!(!encrypted(&url("127.0.0.1", "sslmode=disable"))
        .await
        .unwrap());
    assert!(encrypted(&url("127.0.0.1", "sslmode=prefer"))
        .await
        .unwrap());
    assert!(encrypted(&url("127.0.0.1", "sslmode=require"))
        .await
        .unwrap());
    // verify-full: the right CA and the name on the certificate.
    let full = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(encrypted(&url("localhost", &full)).await.unwrap());
    // The same CA, but an address the certificate does not name.
    let err = encrypted(&url("127.0.0.1", &full)).await.unwrap_err();
    assert!(err.contains("does not name the host"), "{err}");
    // verify-ca checks only the chain, so the address is fine.
    let ca_only = format!("sslmode=verify-ca&sslrootcert={}", ca.display());
    assert!(encrypted(&url("127.0.0.1", &ca_only)).await.unwrap());
    // A CA that did not sign the server's certificate.
    let wrong = format!("sslmode=verify-full&sslrootcert={}", other.display());
    let err = encrypted(&url("localhost", &wrong)).await.unwrap_err();
    assert!(err.contains("not signed by a trusted root"), "{err}");
    // key=value form, as libpq writes it.
    let kv = format!(
        "host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{}'",
        ca.display()
    );
    assert!(encrypted(&kv).await.unwrap());
    // A missing root file is named.
    let err = encrypted(&url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
    ))
    .await
    .unwrap_err();
    assert!(err.contains("/nonexistent/ca.crt"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_fails_clearly_when_the_server_has_no_tls() {
    let pg = Cluster::start().expect("test cluster");
    let base = pg.url("postgres");
    let sep = if base.contains('?') { '&' } else { '?' };
    let err = encrypted(&format!("{base}{sep}sslmode=require"))
        .await
        .unwrap_err();
    assert!(
        err.contains("cannot connect") && err.contains("ssl = off"),
        "{err}"
    );
    // prefer falls back to plain text.
    assert!(!encrypted(&format!("{base}{sep}sslmode=prefer"))
        .await
        .unwrap());
}
