//! Golden snapshots of the generated tree: one snapshot per example holding
//! every file as `//// path` sections, Rust formatted as the CLI writes it.
//! A change to the generator shows up as a reviewed diff.

mod common;

use aqueduct_codegen::generate;

#[test]
fn every_example_generates_the_same_tree() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, dir) in common::projects() {
            let (graph, sources) = common::load(&dir);
            let options = common::options(sources);
            let first = generate(&graph, &options).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let second = generate(&graph, &options).expect("generates again");
            assert_eq!(first, second, "{name}: the same input gives the same bytes");
            let mut text = String::new();
            for (path, content) in common::formatted(&first) {
                text.push_str(&format!("//// {path}\n{content}"));
                if !content.ends_with('\n') {
                    text.push('\n');
                }
            }
            insta::assert_snapshot!(name, text);
        }
    });
}

/// Issue 12: two services of one project started on one host do not both
/// default their admin port to 9090.
#[test]
fn each_service_of_a_project_has_its_own_default_admin_port() {
    let (name, dir) = common::projects()
        .into_iter()
        .find(|(name, _)| name == "quickstart")
        .expect("the quickstart example");
    let (graph, sources) = common::load(&dir);
    let out =
        generate(&graph, &common::options(sources)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let mut ports: Vec<String> = out
        .files
        .iter()
        .filter(|(path, _)| path.ends_with("src/main.rs"))
        .filter_map(|(_, text)| {
            let start = text.find("\"127.0.0.1:")? + 1;
            let end = start + text[start..].find('"')?;
            Some(text[start..end].to_string())
        })
        .collect();
    assert!(ports.len() >= 2, "{ports:?}");
    ports.sort();
    ports.dedup();
    assert_eq!(
        ports.len(),
        out.services.len(),
        "one default each: {ports:?}"
    );
    assert!(ports.contains(&"127.0.0.1:9090".to_string()), "{ports:?}");
}

/// Issue 8, scale-out: services fed by a broker's queue, durable consumer
/// or stream group get a Deployment of 2 replicas and a
/// HorizontalPodAutoscaler, and their README says how the replicas share
/// the messages; an MQTT shared subscription gets a StatefulSet of 2
/// (stable names, the client ids) and no autoscaler, since the broker keeps
/// a stopped member's session and its turn of the messages; the others
/// keep one replica and say why. Only the manifests and READMEs (the
/// fixture is not built).
#[test]
fn broker_fed_services_scale_out_and_the_others_say_why_not() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scale-out");
    let (graph, sources) = common::load(&dir);
    let out = generate(&graph, &common::options(sources)).expect("generates");
    let mut text = String::new();
    for (path, content) in &out.files {
        if path.contains("/k8s/") || path.ends_with("README.md") {
            text.push_str(&format!("//// {path}\n{content}"));
        }
    }
    let hpas: Vec<&str> = out
        .files
        .keys()
        .filter(|p| p.ends_with("k8s/hpa.yaml"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        hpas,
        [
            "events/k8s/hpa.yaml",
            "grouped/k8s/hpa.yaml",
            "jobs/k8s/hpa.yaml",
            "orders/k8s/hpa.yaml",
        ]
    );
    let workloads: Vec<&str> = out
        .files
        .keys()
        .filter(|p| p.starts_with("readings/k8s/"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        workloads,
        [
            "readings/k8s/configmap.yaml",
            "readings/k8s/statefulset.yaml"
        ]
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!("scale-out-manifests", text));
}
