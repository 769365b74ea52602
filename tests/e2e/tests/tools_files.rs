//! uploadFile and downloadFile through MCP: the multipart upload kintone receives, files coming
//! back as text, image or embedded-resource content with their MIME type, the size limits in
//! both directions, and kintone's errors.

use crate::tools_common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use fake_cybozu::Fault;
use serde_json::{json, Value};
use tools_common::{field, params, record_by_id, Session};

/// kintone's limits as documented in the tool descriptions (5 MiB decoded).
const MAX_FILE: usize = 5 * 1024 * 1024;

/// Uploads through the tool, attaches the file to deal `id` and returns its download key.
async fn upload_and_attach(s: &Session, name: &str, content_type: &str, data: &[u8], id: u64) -> String {
    let uploaded = s
        .ok(
            "uploadFile",
            json!({"file": {"name": name, "content": B64.encode(data), "contentType": content_type}}),
        )
        .await;
    let upload_key = uploaded.data()["fileKey"].as_str().unwrap().to_owned();
    assert!(
        uploaded
            .text()
            .contains(&format!("Uploaded {name} ({} bytes)", data.len())),
        "{}",
        uploaded.text()
    );
    s.ok(
        "updateRecord",
        json!({"appId": 2, "id": id, "record": {"見積書": {"value": [{"fileKey": upload_key}]}}}),
    )
    .await;
    let record = s.ok("getRecord", json!({"appId": 2, "id": id})).await;
    let file = &record.data()["record"]["見積書"]["value"][0];
    assert_eq!(
        (file["name"].as_str(), file["contentType"].as_str()),
        (Some(name), Some(content_type))
    );
    assert_eq!(file["size"], data.len().to_string());
    file["fileKey"].as_str().unwrap().to_owned()
}

/// Puts a file in kintone directly (as another kintone client would), bypassing the tool.
async fn upload_directly(s: &Session, name: &str, data: &[u8]) -> String {
    let boundary = "----e2e-boundary-7d41";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/k/v1/file.json", s.app.fake_base_url))
        .header("X-Cybozu-Authorization", B64.encode("alice:alice-password"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    answer["fileKey"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn text_files_round_trip_as_text_content() {
    let s = Session::start().await;
    let text = "品目,数量\nライセンス,10\n";
    let done = s
        .ok(
            "uploadFile",
            json!({"file": {"name": "明細.csv", "content": B64.encode(text), "contentType": "text/csv"}}),
        )
        .await;
    // kintone receives one multipart part named `file` with the name, type and bytes.
    let sent = done.one();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/k/v1/file.json"));
    let content_type = sent.content_type.as_deref().unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart");
    assert!(sent.body.starts_with(&format!("--{boundary}\r\n")), "{}", sent.body);
    assert!(
        sent.body.contains(&format!(
            "name=\"file\"; filename=\"明細.csv\"\r\nContent-Type: text/csv\r\n\r\n{text}\r\n--{boundary}--"
        )),
        "{}",
        sent.body
    );

    let key = upload_and_attach(&s, "明細.csv", "text/csv", text.as_bytes(), 2).await;
    assert_eq!(field(&record_by_id(&s.records(2), 2), "見積書")[0]["name"], "明細.csv");
    let done = s.ok("downloadFile", json!({"fileKey": key})).await;
    let sent = done.one();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("GET", "/k/v1/file.json"));
    assert_eq!(params(sent), json!({"fileKey": key}));
    let content = done.call.content();
    assert_eq!(
        content[0]["text"],
        format!("明細.csv (text/csv, {} bytes):", text.len())
    );
    assert_eq!(content[1], json!({"type": "text", "text": text}));
    assert_eq!(
        done.data(),
        &json!({"name": "明細.csv", "mimeType": "text/csv", "size": text.len(), "returnedAs": "text"})
    );

    // The quote seeded on deal 1.
    let seeded = s.ok("getRecord", json!({"appId": 2, "id": 1})).await.data()["record"]["見積書"]["value"][0]
        ["fileKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = s.ok("downloadFile", json!({"fileKey": seeded})).await;
    assert!(
        done.call.content()[1]["text"].as_str().unwrap().starts_with("御見積書"),
        "{:?}",
        done.call.content()
    );
}

#[tokio::test]
async fn images_and_other_binaries_keep_their_bytes_and_type() {
    let s = Session::start().await;
    let png: Vec<u8> =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
            .to_vec();
    let key = upload_and_attach(&s, "dot.png", "image/png", &png, 2).await;
    let done = s.ok("downloadFile", json!({"fileKey": key})).await;
    let image = &done.call.content()[1];
    assert_eq!(
        (image["type"].as_str(), image["mimeType"].as_str()),
        (Some("image"), Some("image/png"))
    );
    assert_eq!(B64.decode(image["data"].as_str().unwrap()).unwrap(), png);
    assert_eq!(done.data()["returnedAs"], "image");

    let pdf: Vec<u8> = (0u8..=255).cycle().take(5000).collect();
    let key = upload_and_attach(&s, "見積 書.pdf", "application/pdf", &pdf, 2).await;
    let done = s.ok("downloadFile", json!({"fileKey": key})).await;
    let resource = &done.call.content()[1];
    assert_eq!(resource["type"], "resource");
    assert_eq!(resource["resource"]["mimeType"], "application/pdf");
    assert_eq!(
        resource["resource"]["uri"],
        "kintone:file/%E8%A6%8B%E7%A9%8D%20%E6%9B%B8%2Epdf"
    );
    assert_eq!(B64.decode(resource["resource"]["blob"].as_str().unwrap()).unwrap(), pdf);
    assert_eq!(
        done.data(),
        &json!({"name": "見積 書.pdf", "mimeType": "application/pdf", "size": 5000, "returnedAs": "resource"})
    );
    // Clients that read only text still get the description as JSON.
    let last = done.call.content().last().unwrap()["text"].as_str().unwrap();
    assert_eq!(&serde_json::from_str::<Value>(last).unwrap(), done.data());
}

#[tokio::test]
async fn size_limits_hold_in_both_directions() {
    let s = Session::start().await;
    // Exactly the limit goes through MCP and kintone.
    let max: Vec<u8> = (0..MAX_FILE).map(|i| (i % 251) as u8).collect();
    let key = upload_and_attach(&s, "max.bin", "application/octet-stream", &max, 3).await;
    let done = s.ok("downloadFile", json!({"fileKey": key})).await;
    assert_eq!(done.data()["size"], MAX_FILE);
    assert_eq!(
        B64.decode(done.call.content()[1]["resource"]["blob"].as_str().unwrap())
            .unwrap()
            .len(),
        MAX_FILE
    );

    // One byte more is refused before kintone.
    let over = vec![b'x'; MAX_FILE + 1];
    s.invalid(
        "uploadFile",
        json!({"file": {"name": "big.bin", "content": B64.encode(&over)}}),
        "the upload limit is 5242880 bytes (5 MiB)",
    )
    .await;

    // A larger file put in kintone by someone else is refused on download with a clear message.
    let upload_key = upload_directly(&s, "big.bin", &over).await;
    s.ok(
        "updateRecord",
        json!({"appId": 2, "id": 3, "record": {"見積書": {"value": [{"fileKey": upload_key}]}}}),
    )
    .await;
    let key = s.ok("getRecord", json!({"appId": 2, "id": 3})).await.data()["record"]["見積書"]["value"][0]["fileKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = s.tool_error("downloadFile", json!({"fileKey": key})).await;
    assert!(
        done.text().contains(&format!(
            "the file is {} bytes; downloadFile returns files up to {MAX_FILE} bytes (5 MiB)",
            MAX_FILE + 1
        )),
        "{}",
        done.text()
    );
    assert_eq!(done.one().status, Some(200));
}

#[tokio::test]
async fn file_errors_from_kintone_and_bad_arguments() {
    let s = Session::start().await;
    let done = s
        .kintone_error("downloadFile", json!({"fileKey": "no-such-key"}), "GAIA_BL01")
        .await;
    assert!(
        done.text()
            .contains("Download with the fileKey from the record's FILE field value"),
        "{}",
        done.text()
    );

    // An upload key is not a download key.
    let uploaded = s
        .ok(
            "uploadFile",
            json!({"file": {"name": "a.txt", "content": B64.encode("hello")}}),
        )
        .await;
    assert!(
        uploaded.one().body.contains("Content-Type: application/octet-stream"),
        "default type"
    );
    let upload_key = uploaded.data()["fileKey"].as_str().unwrap().to_owned();
    s.kintone_error("downloadFile", json!({"fileKey": upload_key}), "GAIA_BL01")
        .await;

    s.fake().add_fault(Fault::rate_limit("/k/v1/file.json").method("POST"));
    let done = s
        .kintone_error(
            "uploadFile",
            json!({"file": {"name": "a.txt", "content": B64.encode("hello")}}),
            "GAIA_TO04",
        )
        .await;
    assert!(done.text().contains("Retry the same call after"), "{}", done.text());

    // Uploads for guest-space apps go to the space's path.
    let done = s
        .ok(
            "uploadFile",
            json!({"guestSpaceId": 2, "file": {"name": "guest.txt", "content": B64.encode("guest")}}),
        )
        .await;
    assert_eq!(done.one().path, "/k/guest/2/v1/file.json");

    s.invalid(
        "uploadFile",
        json!({"file": {"name": "a.bin", "content": "not base64!"}}),
        "file.content: is not valid base64",
    )
    .await;
    s.invalid(
        "uploadFile",
        json!({"file": {"name": "a.bin", "content": "aGVsbG8=", "contentType": "text/plain\r\nX-Evil: 1"}}),
        "file.contentType: must be a MIME type",
    )
    .await;
    s.invalid(
        "uploadFile",
        json!({"file": {"name": "a\u{0007}.txt", "content": "aGVsbG8="}}),
        "file.name: must not contain control characters",
    )
    .await;
    s.invalid(
        "uploadFile",
        json!({"file": {"content": "aGVsbG8="}}),
        "file.name: must be a string",
    )
    .await;
    s.invalid(
        "downloadFile",
        json!({"fileKey": "   "}),
        "fileKey: must be the non-empty fileKey",
    )
    .await;
    s.invalid("downloadFile", json!({}), "fileKey: required").await;
}
