//! Concurrent PATCHes never lose each other's changes (compare-and-swap with retries).

use std::thread;

use serde_json::json;

use butterfly_scim::ScimConfig;

use crate::support::Scim;

#[test]
fn concurrent_patches_are_not_lost() {
    let mut config = ScimConfig::default();
    config.write_attempts = 50;
    let scim = Scim::with_config(config);
    let id = scim.user("busy@example.com");
    let path = format!("/Users/{id}");
    let succeeded: usize = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (scim, path) = (&scim, &path);
                s.spawn(move || {
                    (0..10)
                        .filter(|i| {
                            let answer = scim.patch(
                                path,
                                &json!({
                                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations": [{"op": "add", "path": "emails", "value": [{"value": format!("{t}-{i}@example.com")}]}]
                                }),
                            );
                            assert!(matches!(answer.status, 200 | 503), "{}", answer.body);
                            answer.status == 200
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let emails = scim.get(&path).body["emails"].as_array().unwrap().len();
    assert_eq!(emails, succeeded);
    assert!(succeeded > 0);
}
