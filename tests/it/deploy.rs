//! The deploy files agree with the server: the probe paths in the Kubernetes manifests and
//! the systemd unit are the server's routes (and answer), and every port named is the
//! server's default listen port. The PostgreSQL examples (issue 18: `deploy/k8s/postgres/`,
//! `deploy/compose/`) run two replicas of one connection without a volume, with the store URL
//! from a Secret and a disruption budget, and the compose file a second brand on the same
//! database; every `TETHER__…` variable any deploy file names is a real configuration key.
//! There is no YAML parser in the crate: the files are read as text, line by line.

use crate::service_support::FakeRunner;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tether::config::{DEFAULTS, Sources, load};
use tether::service::http::{DEFAULT_PORT, HEALTHZ, METRICS, READYZ};
use tether::service::scheduler::parse_schedule;
use tether::service::shutdown::Shutdown;
use tether::service::{Service, ServiceOptions};

fn read(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Values of `key: value` lines (YAML), trimmed of quotes.
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().trim_matches('"').to_owned())
        })
        .collect()
}

/// The probe block (`livenessProbe:` / `readinessProbe:`) of a manifest: its path and port.
fn probe(text: &str, name: &str) -> (String, u16) {
    let start = text
        .find(&format!("{name}:"))
        .unwrap_or_else(|| panic!("no {name}"));
    let block: String = text[start..]
        .lines()
        .skip(1)
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    let path = yaml_values(&block, "path").pop().expect("probe path");
    let port = yaml_values(&block, "port")
        .pop()
        .expect("probe port")
        .parse()
        .unwrap();
    (path, port)
}

/// The `value:` under each `- name: VAR` of a manifest's `env:` (literal values only).
fn env_literals(text: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter_map(|w| {
            let var = w[0].strip_prefix("- name: ")?;
            let value = w[1].strip_prefix("value: ")?;
            Some((var.to_owned(), value.trim_matches('"').to_owned()))
        })
        .collect()
}

/// Every `TETHER__SECTION__KEY` a text names, as (variable, `section.key`).
fn tether_vars(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("TETHER__") {
        let var: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // Prose such as `TETHER__…TOKEN` or `TETHER__SECTION__KEY` names no key.
        let parts: Vec<&str> = var["TETHER__".len()..].split("__").collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) || var == "TETHER__SECTION__KEY" {
            continue;
        }
        let key = parts.join(".").to_ascii_lowercase();
        out.push((var, key));
    }
    out
}

/// Every file under `dir`, recursively, as (path relative to the crate, text); files that are
/// not UTF-8 text are skipped.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut todo = vec![root.join(dir)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                out.push((rel, text));
            }
        }
    }
    out
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn default_listen_port_is_the_documented_one() {
    let listen = DEFAULTS
        .iter()
        .find(|(k, _)| *k == "server.listen")
        .unwrap()
        .1;
    assert_eq!(port_of(listen), DEFAULT_PORT);
}

/// A Kubernetes deployment's probes, container port and metrics path are the server's.
fn assert_probes_port_and_metrics(d: &str) {
    assert_eq!(
        probe(d, "livenessProbe"),
        (HEALTHZ.to_owned(), DEFAULT_PORT)
    );
    assert_eq!(
        probe(d, "readinessProbe"),
        (READYZ.to_owned(), DEFAULT_PORT)
    );
    assert_eq!(yaml_values(d, "containerPort"), [DEFAULT_PORT.to_string()]);
    assert_eq!(yaml_values(d, "prometheus.io/path"), [METRICS]);
}

#[test]
fn kubernetes_probes_and_ports_match_the_server() {
    let d = read("deploy/k8s/deployment.yaml");
    assert_probes_port_and_metrics(&d);
    assert_eq!(yaml_values(&d, "replicas"), ["1"]);
    assert_eq!(
        yaml_values(&d, "prometheus.io/port"),
        [DEFAULT_PORT.to_string()]
    );
    let listen = d
        .lines()
        .skip_while(|l| !l.contains("TETHER__SERVER__LISTEN"))
        .nth(1)
        .unwrap();
    assert_eq!(port_of(listen.trim().trim_end_matches('"')), DEFAULT_PORT);
    let s = read("deploy/k8s/service.yaml");
    assert_eq!(yaml_values(&s, "targetPort"), [DEFAULT_PORT.to_string()]);
    assert!(d.contains("claimName: tether-data"));
    assert!(read("deploy/k8s/pvc.yaml").contains("name: tether-data"));
    assert!(d.contains("name: tether-secrets"));
    assert!(read("deploy/k8s/secret.yaml").contains("name: tether-secrets"));
}

#[test]
fn the_postgres_kubernetes_example_runs_two_replicas_without_a_volume() {
    let d = read("deploy/k8s/postgres/deployment.yaml");
    assert_eq!(yaml_values(&d, "replicas"), ["2"]);
    assert_probes_port_and_metrics(&d);
    for no in ["persistentVolumeClaim", "claimName", "/data", "Recreate"] {
        assert!(!d.contains(no), "the replicated example names {no}");
    }
    // The store URL comes from a Secret (it holds the password), never a literal.
    let env = env_literals(&d);
    assert!(!env.contains_key("TETHER__STORE__URL"), "{env:?}");
    let url_from = d
        .lines()
        .skip_while(|l| !l.contains("- name: TETHER__STORE__URL"))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(url_from.contains("secretKeyRef:"), "{url_from}");
    assert_eq!(
        yaml_values(&url_from, "name"),
        ["TETHER__STORE__URL", "tether-store"]
    );
    assert_eq!(yaml_values(&url_from, "key"), ["TETHER__STORE__URL"]);
    let secret = read("deploy/k8s/postgres/store-secret.yaml");
    assert_eq!(yaml_values(&secret, "kind"), ["Secret"]);
    assert_eq!(yaml_values(&secret, "name"), ["tether-store"]);
    let url = yaml_values(&secret, "TETHER__STORE__URL");
    assert!(
        url.len() == 1 && url[0].starts_with("postgres://"),
        "{url:?}"
    );
    // The connection name is a literal that the configuration accepts.
    let name = env
        .get("TETHER__CONNECTION__NAME")
        .expect("a connection name");
    assert!(!name.is_empty() && name != "default", "{name}");
    assert!(port_of(&env["TETHER__SERVER__LISTEN"]) == DEFAULT_PORT);
    // The disruption budget keeps one of the two pods, and selects the Deployment's pods.
    let pdb = read("deploy/k8s/postgres/pdb.yaml");
    assert_eq!(yaml_values(&pdb, "kind"), ["PodDisruptionBudget"]);
    assert_eq!(yaml_values(&pdb, "minAvailable"), ["1"]);
    let label = "app.kubernetes.io/name: tether";
    assert!(pdb.contains(label) && d.contains(label));
    // It reuses the SQLite example's settings, tokens and Service (same pod label).
    assert!(d.contains("name: tether-config") && d.contains("name: tether-secrets"));
    assert!(read("deploy/k8s/service.yaml").contains(label));
    let readme = read("deploy/k8s/README.md");
    assert!(readme.contains("postgres/") && readme.contains("pvc.yaml"));
}

#[test]
fn the_compose_file_runs_two_replicas_of_one_brand_and_another_brand_on_one_database() {
    let c = read("deploy/compose/docker-compose.yml");
    // Services are the two-space-indented keys under `services:`.
    let services: Vec<&str> = c
        .lines()
        .skip_while(|l| *l != "services:")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .filter_map(|l| {
            let k = l.strip_prefix("  ")?.strip_suffix(':')?;
            (!k.starts_with(' ') && !k.starts_with('#')).then_some(k)
        })
        .collect();
    assert_eq!(services, ["postgres", "acme-1", "acme-2", "globex"]);
    // Each tether service: the connection it runs and the database it uses.
    let conn = |block: &str| yaml_values(block, "TETHER__CONNECTION__NAME");
    let urls = yaml_values(&c, "TETHER__STORE__URL");
    assert_eq!(
        urls.len(),
        2,
        "acme's shared environment and globex's: {urls:?}"
    );
    assert!(
        urls.iter()
            .all(|u| u == &urls[0] && u.contains("@postgres:5432/"))
    );
    let acme = &c[c.find("x-acme-env:").unwrap()..c.find("services:").unwrap()];
    assert_eq!(conn(acme), ["acme"]);
    let globex = &c[c.find("  globex:").unwrap()..];
    assert_eq!(conn(globex), ["globex"]);
    for replica in ["acme-1", "acme-2"] {
        let block = &c[c.find(&format!("  {replica}:")).unwrap()..];
        let block = &block[..block.find("\n\n").unwrap_or(block.len())];
        assert!(block.contains("environment: *acme-env"), "{block}");
        assert!(block.contains(&format!(":{DEFAULT_PORT}\"")), "{block}");
    }
    for listen in yaml_values(&c, "TETHER__SERVER__LISTEN") {
        assert_eq!(port_of(&listen), DEFAULT_PORT);
    }
    assert!(c.contains("condition: service_healthy"));
    assert!(c.contains("dockerfile: deploy/Dockerfile"));
    let example = read("deploy/compose/example.env");
    for var in [
        "POSTGRES_PASSWORD",
        "ACME_HUBSPOT_TOKEN",
        "GLOBEX_HUBSPOT_TOKEN",
    ] {
        assert!(
            example.contains(&format!("{var}=")),
            "example.env lacks {var}"
        );
    }
}

#[test]
fn every_variable_the_deploy_files_name_is_a_configuration_key() {
    let keys: Vec<&str> = DEFAULTS.iter().map(|(k, _)| *k).collect();
    let mut named = 0;
    let mut unknown = Vec::new();
    for (file, text) in files_under(Path::new("deploy")) {
        for (var, key) in tether_vars(&text) {
            named += 1;
            if !keys.contains(&key.as_str()) {
                unknown.push(format!("{file}: {var} (no key {key})"));
            }
        }
    }
    assert!(
        named > 20,
        "only {named} variables found: is the scan blind?"
    );
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
}

#[test]
fn variables_and_env_entries_are_read_as_written() {
    assert_eq!(
        tether_vars("a TETHER__STORE__URL=x, `TETHER__SERVER__REVIEW_TOKEN`, TETHER__…TOKEN."),
        [
            ("TETHER__STORE__URL".to_owned(), "store.url".to_owned()),
            (
                "TETHER__SERVER__REVIEW_TOKEN".to_owned(),
                "server.review_token".to_owned()
            )
        ]
    );
    let env = env_literals(
        "env:\n  - name: A\n    value: \"1\"\n  - name: B\n    valueFrom:\n      x: y\n",
    );
    assert_eq!(env, BTreeMap::from([("A".to_owned(), "1".to_owned())]));
}

#[test]
fn systemd_unit_and_dockerfile_use_the_server_port_and_paths() {
    let unit = read("deploy/tether.service");
    let listen = unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment=TETHER__SERVER__LISTEN="))
        .expect("unit sets the listen address");
    assert_eq!(port_of(listen), DEFAULT_PORT);
    for path in [HEALTHZ, READYZ, METRICS] {
        assert!(
            unit.contains(&format!(":{DEFAULT_PORT}{path}")),
            "unit does not name {path}"
        );
    }
    for opt in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(opt), "unit lacks {opt}");
    }
    let docker = read("deploy/Dockerfile");
    assert!(docker.contains(&format!("EXPOSE {DEFAULT_PORT}")));
    assert!(docker.contains(&format!("TETHER__SERVER__LISTEN=0.0.0.0:{DEFAULT_PORT}")));
    assert!(docker.contains("USER 65532"));
    assert!(docker.contains("VOLUME [\"/data\"]"));
    assert!(docker.matches("FROM ").count() >= 2, "not multi-stage");
}

#[test]
fn the_example_configuration_loads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/tether.toml");
    let l = load(Sources {
        file: Some(path),
        env: vec![],
    })
    .unwrap();
    assert_eq!(l.settings.server.listen.port(), DEFAULT_PORT);
}

#[tokio::test]
async fn the_probe_paths_of_the_manifests_answer_on_the_server() {
    let d = read("deploy/k8s/deployment.yaml");
    let store = tether::store::Store::open_in_memory().await.unwrap();
    let stop = Shutdown::new();
    let svc = Service::start(
        ServiceOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            schedule: parse_schedule("0 0 0 1 1 * 2099").unwrap(),
            run_at_start: false,
            shutdown_grace: Duration::from_secs(1),
            client_secret: tether::secret::Secret::new("x"),
            extra: None,
            lease: None,
        },
        Arc::new(store),
        Arc::new(FakeRunner::new(Duration::ZERO)),
        vec![],
        stop.clone(),
    )
    .await
    .unwrap();
    for name in ["livenessProbe", "readinessProbe"] {
        let (path, _) = probe(&d, name);
        let r = reqwest::get(format!("http://{}{path}", svc.addr))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name} {path}");
    }
    let r = reqwest::get(format!("http://{}/nope", svc.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    stop.trigger();
    svc.wait().await.unwrap();
}
