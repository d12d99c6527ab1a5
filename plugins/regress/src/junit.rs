//! JUnit XML for CI systems (spec §2.7).
//!
//! Written by hand rather than with an XML crate: the layout is small and fixed (attribute
//! order, two-space indent, no self-closing tags, `time="0"`), and what matters is escaping.
//! Every attribute and text value goes through [`escape`], which also replaces characters
//! XML 1.0 cannot carry (a fixture set name is read from a hand-edited file) so the document
//! always stays well-formed.

use crate::graders::GraderResult;

/// Escapes text for an attribute value or element content: `& < > " '` as entities, tab,
/// LF and CR as character references, and characters outside the XML 1.0 `Char` production
/// as U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The report for one run: one suite `gait.regress.<fixture_set>`, one case per result.
pub fn render(fixture_set: &str, results: &[GraderResult]) -> String {
    let failures = results.iter().filter(|r| !r.pass).count();
    let suite = if fixture_set.is_empty() {
        "gait.regress".to_string()
    } else {
        format!("gait.regress.{fixture_set}")
    };
    let mut out = String::with_capacity(200 + results.len() * 120);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites tests=\"{n}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"0\">\n",
        n = results.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"0\">\n",
        escape(&suite),
        results.len()
    ));
    for r in results {
        let (class, name) = match r.name.split_once('/') {
            Some((c, n)) => (c, n),
            None => ("regress", r.name.as_str()),
        };
        out.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0\">",
            escape(name),
            escape(class)
        ));
        if r.pass {
            out.push_str("</testcase>\n");
            continue;
        }
        let mut codes = r.reason_codes.clone();
        codes.sort();
        let message = if codes.is_empty() {
            "failed".to_string()
        } else {
            codes.join(",")
        };
        let m = escape(&message);
        out.push_str(&format!(
            "\n      <failure message=\"{m}\" type=\"regress_failure\">{m}</failure>\n    </testcase>\n"
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn result(name: &str, pass: bool, codes: &[&str]) -> GraderResult {
        GraderResult {
            name: name.into(),
            pass,
            reason_codes: codes.iter().map(|c| c.to_string()).collect(),
            context_conformance: None,
            details: Map::new(),
        }
    }

    #[test]
    fn layout_matches_the_spec() {
        let xml = render(
            "default",
            &[
                result("run_demo/diff", true, &[]),
                result("run_demo/trajectory", false, &["unexpected_tool_sequence"]),
            ],
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0\">\n  <testsuite name=\"gait.regress.default\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"0\">\n    <testcase name=\"diff\" classname=\"run_demo\" time=\"0\"></testcase>\n    <testcase name=\"trajectory\" classname=\"run_demo\" time=\"0\">\n      <failure message=\"unexpected_tool_sequence\" type=\"regress_failure\">unexpected_tool_sequence</failure>\n    </testcase>\n  </testsuite>\n</testsuites>\n"
        );
    }

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            escape("a&b<c>\"d'\te\nf\rg\u{1}h"),
            "a&amp;b&lt;c&gt;&#34;d&#39;&#x9;e&#xA;f&#xD;g\u{FFFD}h"
        );
        let xml = render("x\"><evil/>", &[result("noslash", false, &[])]);
        assert!(xml.contains("name=\"gait.regress.x&#34;&gt;&lt;evil/&gt;\""));
        assert!(xml.contains("classname=\"regress\""));
        assert!(xml.contains("message=\"failed\""));
    }
}
