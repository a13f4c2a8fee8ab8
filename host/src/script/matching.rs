//! Compares expected JSON with actual JSON and says where they differ, by path.

use std::fmt;

use serde_json::Value;

use super::MatchMode;

/// One difference between expected and actual JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Where: `[1].attachments[0].content.title`; empty for the whole value.
    pub path: String,
    /// What was expected there (`None`: nothing, the actual value is extra).
    pub expected: Option<Value>,
    /// What was there (`None`: missing).
    pub actual: Option<Value>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "the value"
        } else {
            &self.path
        };
        match (&self.expected, &self.actual) {
            (Some(expected), Some(actual)) => {
                write!(f, "{path}: expected {expected}, got {actual}")
            }
            (Some(expected), None) => write!(f, "{path}: missing, expected {expected}"),
            (None, Some(actual)) => write!(f, "{path}: not expected, got {actual}"),
            (None, None) => write!(f, "{path}: differs"),
        }
    }
}

/// Where `actual` differs from `expected` under `mode`, in the expected value's order.
pub fn mismatches(expected: &Value, actual: &Value, mode: MatchMode) -> Vec<Mismatch> {
    let mut found = Vec::new();
    compare(expected, actual, mode, String::new(), &mut found);
    found
}

fn compare(
    expected: &Value,
    actual: &Value,
    mode: MatchMode,
    path: String,
    found: &mut Vec<Mismatch>,
) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, want_value) in want {
                let at = format!("{path}.{key}");
                match got.get(key) {
                    Some(got_value) => compare(want_value, got_value, mode, at, found),
                    None => found.push(Mismatch {
                        path: at,
                        expected: Some(want_value.clone()),
                        actual: None,
                    }),
                }
            }
            if mode == MatchMode::Exact {
                for (key, got_value) in got.iter().filter(|(key, _)| !want.contains_key(*key)) {
                    found.push(Mismatch {
                        path: format!("{path}.{key}"),
                        expected: None,
                        actual: Some(got_value.clone()),
                    });
                }
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            for index in 0..want.len().max(got.len()) {
                let at = format!("{path}[{index}]");
                match (want.get(index), got.get(index)) {
                    (Some(w), Some(g)) => compare(w, g, mode, at, found),
                    (w, g) => found.push(Mismatch {
                        path: at,
                        expected: w.cloned(),
                        actual: g.cloned(),
                    }),
                }
            }
        }
        (Value::Number(want), Value::Number(got)) if want.as_f64() == got.as_f64() => {}
        _ if expected == actual => {}
        _ => found.push(Mismatch {
            path,
            expected: Some(expected.clone()),
            actual: Some(actual.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(expected: Value, actual: Value, mode: MatchMode) -> Vec<String> {
        mismatches(&expected, &actual, mode)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_subset_ignores_fields_it_does_not_name() {
        let actual = json!([{"type": "message", "text": "Hi", "sessionId": 1}]);
        assert!(paths(json!([{"text": "Hi"}]), actual.clone(), MatchMode::Subset).is_empty());
        assert_eq!(
            paths(json!([{"text": "Hi"}]), actual, MatchMode::Exact),
            vec![
                "[0].type: not expected, got \"message\"",
                "[0].sessionId: not expected, got 1"
            ]
        );
    }

    #[test]
    fn differences_are_reported_by_path() {
        let expected = json!([{"text": "Hello", "buttons": [{"title": "A"}, {"title": "B"}]}]);
        let actual = json!([{"text": "Hi", "buttons": [{"title": "A"}, {"title": "C"}]}]);
        assert_eq!(
            paths(expected, actual, MatchMode::Subset),
            vec![
                "[0].text: expected \"Hello\", got \"Hi\"",
                "[0].buttons[1].title: expected \"B\", got \"C\"",
            ]
        );
    }

    #[test]
    fn missing_and_extra_list_items_and_fields_are_reported() {
        assert_eq!(
            paths(json!([1, 2]), json!([1]), MatchMode::Subset),
            vec!["[1]: missing, expected 2"]
        );
        assert_eq!(
            paths(json!([1]), json!([1, {"a": 1}]), MatchMode::Subset),
            vec!["[1]: not expected, got {\"a\":1}"]
        );
        assert_eq!(
            paths(json!({"a": null}), json!({}), MatchMode::Subset),
            vec![".a: missing, expected null"]
        );
    }

    #[test]
    fn numbers_compare_by_value_and_types_must_agree() {
        assert!(paths(json!(1.0), json!(1), MatchMode::Exact).is_empty());
        assert_eq!(
            paths(json!("1"), json!(1), MatchMode::Subset),
            vec!["the value: expected \"1\", got 1"]
        );
    }
}
