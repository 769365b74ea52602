//! A `multipart/form-data` body with one file part: all kintone's upload API takes.

use crate::outcome::Failure;

pub(crate) struct Form {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// One part named `field` carrying `data` as `file_name`. The file name is escaped the way
/// browsers do (WHATWG HTML: `"` → `%22`, CR → `%0D`, LF → `%0A`); UTF-8 passes as is, which
/// kintone accepts.
pub(crate) fn single_file(field: &str, file_name: &str, content_type: &str, data: &[u8]) -> Result<Form, Failure> {
    let boundary = fresh_boundary(data)?;
    let escaped = file_name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A");
    let mut body = Vec::with_capacity(data.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!("Content-Disposition: form-data; name=\"{field}\"; filename=\"{escaped}\"\r\n").as_bytes(),
    );
    body.extend_from_slice(format!("Content-Type: {content_type}\r\n\r\n").as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(Form {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    })
}

/// A random boundary that does not occur in the data.
fn fresh_boundary(data: &[u8]) -> Result<String, Failure> {
    for _ in 0..4 {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| Failure::Unavailable(format!("no randomness for the upload boundary: {e}")))?;
        let boundary = format!(
            "----kintone-mcp-{}",
            random.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        if !contains(data, boundary.as_bytes()) {
            return Ok(boundary);
        }
    }
    Err(Failure::Refused(
        "could not find a multipart boundary absent from the file".into(),
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_part_with_escaped_name_and_exact_bytes() {
        let data = b"\x00\x01binary\r\n--";
        let form = single_file("file", "a\"b\n.txt", "text/plain", data).unwrap();
        let boundary = form
            .content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%22b%0A.txt\"\r\nContent-Type: text/plain\r\n\r\n");
        assert!(form.body.starts_with(head.as_bytes()));
        let tail = format!("\r\n--{boundary}--\r\n");
        assert!(form.body.ends_with(tail.as_bytes()));
        assert_eq!(&form.body[head.len()..form.body.len() - tail.len()], data);
    }

    #[test]
    fn boundaries_differ_between_calls() {
        let a = single_file("file", "x", "text/plain", b"x").unwrap().content_type;
        let b = single_file("file", "x", "text/plain", b"x").unwrap().content_type;
        assert_ne!(a, b);
    }
}
