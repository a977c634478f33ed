use butterfly_compliance::report::{Format, render};
use butterfly_compliance::{Framework, Report, evaluate};
use futures::executor::block_on;

use crate::support::{self, GENERATED_AT};

fn report(name: &str) -> Report {
    let (source, snapshot) = support::load(name).unwrap();
    block_on(evaluate(&source, &snapshot, &Framework::ALL, GENERATED_AT)).unwrap()
}

#[test]
fn every_format_of_the_misconfigured_org() {
    let report = report("misconfigured-org.json");
    for format in Format::ALL {
        let text = render(&report, format).unwrap();
        insta::assert_snapshot!(format!("misconfigured.{}", format.extension()), text);
    }
}

#[test]
fn every_format_is_byte_stable_across_evaluations() {
    // Two separate loads and evaluations of the same fixture: nothing random, no clock.
    let (a, b) = (
        report("misconfigured-org.json"),
        report("misconfigured-org.json"),
    );
    for format in Format::ALL {
        assert_eq!(
            render(&a, format).unwrap(),
            render(&b, format).unwrap(),
            "{format}"
        );
    }
}

#[test]
fn the_json_report_round_trips_and_has_a_schema() {
    let report = report("misconfigured-org.json");
    let text = render(&report, Format::Json).unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    let schema = serde_json::to_value(schemars::schema_for!(Report)).unwrap();
    assert!(schema["properties"]["results"].is_object(), "{schema}");
}

#[test]
fn names_from_the_org_cannot_break_out_of_any_format() {
    // The fixture's SAML app is labelled `Payroll =HYPERLINK("http://x") <b>&</b>`.
    let report = report("misconfigured-org.json");
    let html = render(&report, Format::Html).unwrap();
    assert!(html.contains("Payroll =HYPERLINK(&quot;http://x&quot;) &lt;b&gt;&amp;&lt;/b&gt;"));
    assert!(!html.contains("<b>&</b>"));
    let junit = render(&report, Format::Junit).unwrap();
    assert!(!junit.contains("<b>"));
    let csv = render(&report, Format::Csv).unwrap();
    assert!(!csv.contains(",=HYPERLINK"));
    let markdown = render(&report, Format::Markdown).unwrap();
    assert!(!markdown.contains("<b>"));
    // The HTML page loads nothing from anywhere.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
}
