//! The little XML that AWS query and REST APIs answer in (STS credentials, S3 listings and
//! errors), read by a small extractor rather than an XML crate: the documents are flat element
//! trees and callers need a few leaf elements. Not a general parser: no namespaces prefixes, no
//! CDATA, no entity declarations (a DOCTYPE is refused).

/// Comments removed; a DOCTYPE refused (no entity declarations to expand, ever).
pub(crate) fn strip_comments(xml: &str) -> Result<String, String> {
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err("the answer declares a DOCTYPE".into());
    }
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start + 4..]
            .find("-->")
            .ok_or("an unterminated comment in the answer")?;
        rest = &rest[start + 4 + end + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The content of the first `<name ...>...</name>` in `xml` (no namespace prefix, as STS
/// writes them). `<nameX>` is not `<name>`; a self-closing `<name/>` has no content.
pub(crate) fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut from = 0;
    while let Some(i) = xml[from..].find(&open) {
        let after = from + i + open.len();
        let next = xml[after..].chars().next()?;
        if next == '>' || next == '/' || next.is_ascii_whitespace() {
            let gt = after + xml[after..].find('>')?;
            if xml[..gt].ends_with('/') {
                return Some("");
            }
            let body = &xml[gt + 1..];
            let end = body.find(&close)?;
            return Some(&body[..end]);
        }
        from = after;
    }
    None
}

/// XML text with the five predefined entities and character references decoded; `None` for
/// markup inside (a nested element or CDATA where text was expected).
pub(crate) fn unescape(s: &str) -> Option<String> {
    if s.contains('<') {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        let entity = &rest[amp + 1..semi];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    entity.strip_prefix('#')?.parse().ok()?
                };
                char::from_u32(code)?
            }
        };
        out.push(ch);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_match_whole_names() {
        let xml = "<CredentialsX>no</CredentialsX><Credentials a=\"1\">yes</Credentials>";
        assert_eq!(element(xml, "Credentials"), Some("yes"));
        assert_eq!(element("<A/><A>x</A>", "A"), Some(""));
        assert_eq!(element("<A>x", "A"), None);
    }

    #[test]
    fn entities() {
        assert_eq!(
            unescape("a&lt;b&gt;&amp;&quot;&apos;&#65;&#x42;").unwrap(),
            "a<b>&\"'AB"
        );
        assert_eq!(unescape("&bogus;"), None);
        assert_eq!(unescape("&amp"), None);
        assert_eq!(unescape("&#xD800;"), None);
    }
}
