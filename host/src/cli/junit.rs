//! `wasmbot test --junit FILE`: the results as JUnit XML, which CI systems (GitLab, Jenkins,
//! GitHub's test reporters) show: a `testsuite` per script, a `testcase` per step.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// One script's results.
#[derive(Debug, Default)]
pub struct SuiteResult {
    /// The script's path, as given.
    pub name: String,
    /// Its steps.
    pub cases: Vec<CaseResult>,
    /// Why the script could not run at all (unreadable, invalid).
    pub error: Option<String>,
    /// How long it took.
    pub time: Duration,
}

/// One step's result.
#[derive(Debug)]
pub struct CaseResult {
    /// The step's label (`2  Text "hello" (session 1)`).
    pub name: String,
    /// What differed, when it failed: a summary line and the details.
    pub failure: Option<(String, String)>,
    /// How long the bot took.
    pub time: Duration,
}

impl SuiteResult {
    /// Its test cases: one per step, or the one error of a script that did not run.
    fn tests(&self) -> usize {
        self.cases.len().max(usize::from(self.error.is_some()))
    }

    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }
}

/// Writes `suites` to `path` as JUnit XML.
pub fn write(path: &Path, suites: &[SuiteResult]) -> anyhow::Result<()> {
    let xml = render(suites).context("writing the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))
}

fn seconds(time: Duration) -> String {
    format!("{:.3}", time.as_secs_f64())
}

/// The report's text.
fn render(suites: &[SuiteResult]) -> std::io::Result<Vec<u8>> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let tests: usize = suites.iter().map(SuiteResult::tests).sum();
    let failures: usize = suites.iter().map(SuiteResult::failures).sum();
    let errors = suites.iter().filter(|s| s.error.is_some()).count();
    let total: Duration = suites.iter().map(|s| s.time).sum();
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", "wasmbot test"));
    root.push_attribute(("tests", tests.to_string().as_str()));
    root.push_attribute(("failures", failures.to_string().as_str()));
    root.push_attribute(("errors", errors.to_string().as_str()));
    root.push_attribute(("time", seconds(total).as_str()));
    writer.write_event(Event::Start(root))?;
    for suite in suites {
        let mut start = BytesStart::new("testsuite");
        start.push_attribute(("name", suite.name.as_str()));
        start.push_attribute(("tests", suite.tests().to_string().as_str()));
        start.push_attribute(("failures", suite.failures().to_string().as_str()));
        start.push_attribute((
            "errors",
            usize::from(suite.error.is_some()).to_string().as_str(),
        ));
        start.push_attribute(("time", seconds(suite.time).as_str()));
        writer.write_event(Event::Start(start))?;
        if let Some(error) = &suite.error {
            let mut case = BytesStart::new("testcase");
            case.push_attribute(("name", "load the script"));
            case.push_attribute(("classname", suite.name.as_str()));
            writer.write_event(Event::Start(case))?;
            let mut element = BytesStart::new("error");
            element.push_attribute(("message", first_line(error)));
            writer.write_event(Event::Start(element))?;
            writer.write_event(Event::Text(BytesText::new(error)))?;
            writer.write_event(Event::End(BytesEnd::new("error")))?;
            writer.write_event(Event::End(BytesEnd::new("testcase")))?;
        }
        for result in &suite.cases {
            let mut case = BytesStart::new("testcase");
            case.push_attribute(("name", result.name.trim()));
            case.push_attribute(("classname", suite.name.as_str()));
            case.push_attribute(("time", seconds(result.time).as_str()));
            match &result.failure {
                None => writer.write_event(Event::Empty(case))?,
                Some((message, details)) => {
                    writer.write_event(Event::Start(case))?;
                    let mut failure = BytesStart::new("failure");
                    failure.push_attribute(("message", message.as_str()));
                    writer.write_event(Event::Start(failure))?;
                    writer.write_event(Event::Text(BytesText::new(details)))?;
                    writer.write_event(Event::End(BytesEnd::new("failure")))?;
                    writer.write_event(Event::End(BytesEnd::new("testcase")))?;
                }
            }
        }
        writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut xml = writer.into_inner();
    xml.push(b'\n');
    Ok(xml)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_errors_are_counted_and_text_is_escaped() {
        let suites = vec![
            SuiteResult {
                name: "tests/a.json".into(),
                cases: vec![
                    CaseResult {
                        name: " 1  Text \"<hi>\" (session 1)".into(),
                        failure: None,
                        time: Duration::from_millis(3),
                    },
                    CaseResult {
                        name: " 2  Text \"x\" (session 1)".into(),
                        failure: Some((
                            "activity [0].text differs".into(),
                            "expected \"a & b\"".into(),
                        )),
                        time: Duration::from_millis(1),
                    },
                ],
                error: None,
                time: Duration::from_millis(5),
            },
            SuiteResult {
                name: "tests/broken.json".into(),
                error: Some("not valid JSON\nat line 1".into()),
                ..SuiteResult::default()
            },
        ];
        let xml = String::from_utf8(render(&suites).unwrap()).unwrap();
        assert!(
            xml.contains(r#"<testsuites name="wasmbot test" tests="3" failures="1" errors="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="1  Text &quot;&lt;hi&gt;&quot; (session 1)""#),
            "{xml}"
        );
        assert!(
            xml.contains("expected \"a &amp; b\"")
                || xml.contains("expected &quot;a &amp; b&quot;"),
            "{xml}"
        );
        assert!(xml.contains(r#"<error message="not valid JSON">"#), "{xml}");
    }
}
