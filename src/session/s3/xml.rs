//! The little XML S3 answers in: a ListObjectsV2 page (keys, truncation, continuation token)
//! and an error document (`<Error><Code>`, `<Message>`). Not a general parser: S3 documents are
//! flat element trees without attributes we need, comments, or CDATA, so finding `<Name>text</Name>`
//! pairs and decoding entities (`crate::aws::xml`, shared with STS) is enough; anything else in
//! them is skipped.

/// One ListObjectsV2 page.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ListPage {
    /// `Contents/Key`, in the order given (S3 sorts them by UTF-8 bytes).
    pub(super) keys: Vec<String>,
    /// `NextContinuationToken` when `IsTruncated` is true.
    pub(super) next: Option<String>,
}

/// Reads a ListObjectsV2 answer; `None` when it is not one.
pub(super) fn list_page(doc: &str) -> Option<ListPage> {
    if !doc.contains("<ListBucketResult") {
        return None;
    }
    let mut page = ListPage::default();
    let mut rest = doc;
    while let Some(start) = rest.find("<Contents>") {
        let body = &rest[start + "<Contents>".len()..];
        let end = body.find("</Contents>")?;
        page.keys.push(element(&body[..end], "Key")?);
        rest = &body[end..];
    }
    if element(doc, "IsTruncated").as_deref() == Some("true") {
        page.next = Some(element(doc, "NextContinuationToken")?);
    }
    Some(page)
}

/// `(Code, Message)` of an S3 error document.
pub(super) fn error_code(doc: &str) -> Option<(String, Option<String>)> {
    let error = doc.find("<Error>").map(|i| &doc[i..])?;
    Some((element(error, "Code")?, element(error, "Message")))
}

/// The decoded text of the first `<name>...</name>` in `doc` (`<name/>` is empty text).
fn element(doc: &str, name: &str) -> Option<String> {
    crate::aws::xml::element(doc, name).and_then(crate::aws::xml::unescape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/message_0.json</Key><ETag>&quot;x&quot;</ETag><Size>3</Size></Contents>
<Contents><Key>p/a&amp;b &lt;c&gt; &#233;&#x1F600;.json</Key></Contents>
<NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>"#;
        assert_eq!(
            list_page(doc),
            Some(ListPage {
                keys: vec!["p/message_0.json".into(), "p/a&b <c> é😀.json".into()],
                next: Some("tok/+=".into()),
            })
        );
        let last =
            "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";
        assert_eq!(list_page(last), Some(ListPage::default()));
        assert_eq!(list_page("<Error><Code>X</Code></Error>"), None);
        // Truncated without a token, or a broken entity: not a page we can follow.
        assert_eq!(
            list_page("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"),
            None
        );
        assert_eq!(
            list_page("<ListBucketResult><Contents><Key>a&bogus</Key></Contents></ListBucketResult>"),
            None
        );
    }

    #[test]
    fn error_documents() {
        let doc = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>";
        assert_eq!(
            error_code(doc),
            Some(("SlowDown".into(), Some("Please reduce your request rate.".into())))
        );
        assert_eq!(
            error_code("<Error><Code>PreconditionFailed</Code></Error>"),
            Some(("PreconditionFailed".into(), None))
        );
        assert_eq!(error_code("<html>502</html>"), None);
    }
}
