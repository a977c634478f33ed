//! Report writers. Every writer is a pure function of the [`Report`]: no clock, no
//! randomness, no hash-map order, so the same report gives the same bytes.

mod html;
mod junit;
mod oscal;
mod sarif;
mod text;

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::model::Report;

pub use text::escape_xml;

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// The [`Report`] as pretty JSON (its schema: `schemars::schema_for!(Report)`).
    Json,
    /// One row per result.
    Csv,
    /// A summary table per framework and a section per failing check.
    Markdown,
    /// A self-contained HTML page (inline CSS, no scripts, no external requests).
    Html,
    /// SARIF 2.1.0: one rule per check, one result per failing (framework, check).
    Sarif,
    /// OSCAL 1.1.2 assessment results: one result per framework.
    Oscal,
    /// JUnit XML: a test suite per framework, a test case per check.
    Junit,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 7] = [
        Format::Json,
        Format::Csv,
        Format::Markdown,
        Format::Html,
        Format::Sarif,
        Format::Oscal,
        Format::Junit,
    ];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Sarif => "sarif",
            Format::Oscal => "oscal",
            Format::Junit => "junit",
        }
    }

    /// The usual file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Sarif => "sarif",
            Format::Oscal => "oscal.json",
            Format::Junit => "junit.xml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let lower = if lower == "md" {
            "markdown".to_owned()
        } else {
            lower
        };
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == lower)
            .ok_or_else(|| Error::UnknownFormat(s.to_owned()))
    }
}

/// Write `report` in `format`. Text formats end with a newline.
pub fn render(report: &Report, format: Format) -> Result<String, Error> {
    Ok(match format {
        Format::Json => json(&report)?,
        Format::Csv => text::csv(report),
        Format::Markdown => text::markdown(report),
        Format::Html => html::html(report),
        Format::Sarif => json(&sarif::sarif(report))?,
        Format::Oscal => json(&oscal::oscal(report))?,
        Format::Junit => junit::junit(report),
    })
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    let mut out = serde_json::to_string_pretty(value).map_err(Error::Serialize)?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        assert!(matches!(
            "pdf".parse::<Format>(),
            Err(Error::UnknownFormat(_))
        ));
    }
}
