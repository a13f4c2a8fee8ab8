//! Every payload in `fixtures/mluvii/` through the wire types.

use serde_json::{Value, json};

use super::inbound::{InboundActivity as In, Outcome};
use super::outbound::SendActivity;
use super::webhook::{Webhook, WebhookError, parse_webhook};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/mluvii");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn event(name: &str) -> super::WebhookEvent {
    match parse_webhook(&fixture(name)) {
        Ok(Webhook::Event(event)) => event,
        other => panic!("{name}: {other:?}"),
    }
}

fn fixture_names(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn ping_in_both_casings() {
    assert_eq!(parse_webhook(&fixture("in-ping.json")), Ok(Webhook::Ping));
    assert_eq!(
        parse_webhook(&fixture("in-ping-pascalcase.json")),
        Ok(Webhook::Ping)
    );
    assert_eq!(parse_webhook(br#"{"ACTIVITY":"ping"}"#), Ok(Webhook::Ping));
}

#[test]
fn every_inbound_fixture_parses_to_its_own_activity() {
    for name in fixture_names("in-") {
        let body = fixture(&name);
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let declared = raw
            .get("activity")
            .or_else(|| raw.get("Activity"))
            .and_then(Value::as_str)
            .unwrap();
        match parse_webhook(&body) {
            Ok(Webhook::Ping) => assert_eq!(declared, "Ping", "{name}"),
            Ok(Webhook::Event(e)) => {
                assert_eq!(e.activity.name(), declared, "{name}");
                assert!(
                    !matches!(e.activity, In::Unknown { .. }),
                    "{name} fell back to Unknown"
                );
            }
            // The legacy Bot-Framework body has no session: it documents casing only.
            Err(WebhookError::NoSessionId { .. }) => assert!(name.contains("legacy-pascal")),
            Err(other) => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn text_keeps_language_source_and_timestamp_without_offset() {
    let e = event("in-text.json");
    assert_eq!(e.session_id, 2359788);
    assert_eq!(e.language.as_deref(), Some("en"));
    assert_eq!(e.source.as_deref(), Some("Default"));
    assert_eq!(
        e.activity,
        In::Text {
            text: "Hello world!".into(),
            timestamp: Some("2020-09-09T10:03:46.792954".into())
        }
    );
    let minimal = event("in-text-minimal.json");
    assert_eq!(minimal.language, None);
    assert!(
        matches!(minimal.activity, In::Text { ref text, timestamp: None } if text == "Hello world")
    );
}

#[test]
fn session_id_as_string_and_pascal_case_keys() {
    let body = br#"{"Activity":"text","SessionId":"42","Text":"hi"}"#;
    let Ok(Webhook::Event(e)) = parse_webhook(body) else {
        panic!()
    };
    assert_eq!(e.session_id, 42);
    assert_eq!(e.activity.name(), "Text");
}

#[test]
fn groups_response_full_and_legacy() {
    let e = event("in-get-available-groups-response.json");
    let In::GetAvailableGroupsResponse { available_groups } = e.activity else {
        panic!()
    };
    assert_eq!(available_groups.len(), 2);
    assert_eq!(available_groups[0].group_state.as_deref(), Some("ONLINE"));
    assert_eq!(available_groups[0].group_workload.unwrap().free_slots, 2);
    assert_eq!(
        available_groups[1].group_offline_reasons.as_deref(),
        Some(&["BUSINESS_HOURS".to_owned(), "NO_OPERATORS".to_owned()][..])
    );
    assert!(available_groups[1].queue_workload.unwrap().is_queue_full);
    let legacy = event("in-get-available-groups-response-legacy.json");
    let In::GetAvailableGroupsResponse { available_groups } = legacy.activity else {
        panic!()
    };
    assert_eq!(available_groups[1].group_id, 2);
    assert_eq!(available_groups[1].group_state, None);
}

#[test]
fn responses_keep_their_fields() {
    let In::GetCallParamsResponse { call_params } =
        event("in-get-call-params-response.json").activity
    else {
        panic!()
    };
    assert_eq!(call_params["HandoffReason"], "Sales");
    assert_eq!(
        event("in-set-call-params-response.json").activity,
        In::SetCallParamsResponse(Outcome {
            success: true,
            error_message: None
        })
    );
    let In::ShareFileResponse { is_success, .. } = event("in-share-file-response.json").activity
    else {
        panic!()
    };
    assert!(is_success);
    let In::GetGuestIdentityResponse(id) = event("in-get-guest-identity-response.json").activity
    else {
        panic!()
    };
    assert_eq!(
        id.tracked_guest_guid.as_deref(),
        Some("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    );
    let In::ObtainCrmIdentityResponse {
        matched_crm_identities,
        ..
    } = event("in-obtain-crm-identity-response.json").activity
    else {
        panic!()
    };
    assert_eq!(matched_crm_identities[0].crm_identity_id, 1001);
    assert_eq!(
        matched_crm_identities[0].data["email"][0],
        "jan.novak@example.com"
    );
    let In::GuestLocation { latitude, .. } = event("in-guest-location.json").activity else {
        panic!()
    };
    assert_eq!(latitude, 50.0875);
}

#[test]
fn unknown_activities_are_kept_whole() {
    let body = br#"{"activity":"SomethingNew","sessionId":7,"extra":{"a":1}}"#;
    let Ok(Webhook::Event(e)) = parse_webhook(body) else {
        panic!()
    };
    let In::Unknown { activity, json } = e.activity else {
        panic!()
    };
    assert_eq!(activity, "SomethingNew");
    assert_eq!(json["extra"]["a"], 1);
}

#[test]
fn malformed_bodies_say_why() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "not valid JSON"),
        (b"[1]", "not a JSON object"),
        (
            br#"{"activity":"Text","text":"x"}"#,
            "`Text` has no `sessionId`",
        ),
        (
            br#"{"activity":"Text","sessionId":"x1","text":"x"}"#,
            "not an integer",
        ),
    ];
    for (body, expected) in cases {
        let err = parse_webhook(body).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }
}

#[test]
fn webhook_events_serialize_back_to_mluvii_shape() {
    for name in [
        "in-text.json",
        "in-get-available-groups-response.json",
        "in-hero-card-submission.json",
    ] {
        let original: Value = serde_json::from_slice(&fixture(name)).unwrap();
        assert_eq!(event(name).to_json(), original, "{name}");
    }
}

/// Outbound fixtures that do not survive a round trip unchanged, and why.
const OUTBOUND_NORMALISED: &[(&str, &str)] = &[
    (
        "out-text-sessionid-string.json",
        "sessionId is sent as a number",
    ),
    (
        "out-assign-crm-identity-docs-variant.json",
        "docs' crmIdentityId is not the model's field",
    ),
];

#[test]
fn every_outbound_fixture_round_trips() {
    for name in fixture_names("out-") {
        let original: Value = serde_json::from_slice(&fixture(&name)).unwrap();
        let parsed: SendActivity =
            serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        if OUTBOUND_NORMALISED.iter().any(|(n, _)| *n == name) {
            continue;
        }
        assert_eq!(parsed.to_json(), original, "{name}");
        assert!(
            !matches!(parsed.body, super::SendBody::Raw(_)),
            "{name} was not recognised"
        );
    }
    let string_id: SendActivity =
        serde_json::from_slice(&fixture("out-text-sessionid-string.json")).unwrap();
    assert_eq!(string_id.to_json()["sessionId"], json!(2359788));
    let docs_variant: SendActivity =
        serde_json::from_slice(&fixture("out-assign-crm-identity-docs-variant.json")).unwrap();
    assert_eq!(docs_variant.to_json()["existingCrmIdentityId"], Value::Null);
}

#[test]
fn outbound_names() {
    let body: SendActivity = serde_json::from_slice(&fixture("out-handoff.json")).unwrap();
    assert_eq!(body.name(), "HandOff");
    let body: SendActivity = serde_json::from_slice(&fixture("out-text.json")).unwrap();
    assert_eq!(body.name(), "message");
}
