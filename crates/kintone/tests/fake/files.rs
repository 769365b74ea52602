//! uploadFile and downloadFile: text, image and other binaries, and the size limit.

use base64::Engine as _;
use kintone::{Content, DOWNLOAD_MAX_BYTES};
use serde_json::{json, Value};

use crate::common::{field, record_by_id, Env};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Uploads through the tool, attaches to deal record `id` and returns the download key.
async fn upload_and_attach(env: &Env, name: &str, content_type: &str, data: &[u8], id: u64) -> String {
    let uploaded = env
        .data(
            "uploadFile",
            json!({"file": {"name": name, "content": B64.encode(data), "contentType": content_type}}),
        )
        .await;
    let upload_key = uploaded["fileKey"].as_str().unwrap().to_string();
    env.ok(
        "updateRecord",
        json!({"appId": 2, "id": id, "record": {"見積書": {"value": [{"fileKey": upload_key}]}}}),
    )
    .await;
    let record = env.data("getRecord", json!({"appId": 2, "id": id})).await;
    let file = &record["record"]["見積書"]["value"][0];
    assert_eq!(
        (file["name"].as_str(), file["contentType"].as_str()),
        (Some(name), Some(content_type))
    );
    assert_eq!(file["size"], data.len().to_string());
    file["fileKey"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn text_files_round_trip_as_text() {
    let env = Env::start().await;
    let text = "品目,数量\nライセンス,10\n";
    let key = upload_and_attach(&env, "明細.csv", "text/csv", text.as_bytes(), 2).await;
    let stored = record_by_id(&env.records(2), 2);
    assert_eq!(field(&stored, "見積書")[0]["name"], "明細.csv");

    let result = env.ok("downloadFile", json!({"fileKey": key})).await;
    assert_eq!(result.content[1], Content::Text(text.into()));
    let info = result.structured.as_ref().unwrap();
    assert_eq!(
        (
            info["name"].as_str(),
            info["returnedAs"].as_str(),
            info["size"].as_u64()
        ),
        (Some("明細.csv"), Some("text"), Some(text.len() as u64))
    );

    // The seeded quote on deal 1.
    let seeded_key = env.data("getRecord", json!({"appId": 2, "id": 1})).await["record"]["見積書"]["value"][0]
        ["fileKey"]
        .as_str()
        .unwrap()
        .to_string();
    let seeded = env.ok("downloadFile", json!({"fileKey": seeded_key})).await;
    assert!(matches!(&seeded.content[1], Content::Text(t) if t.starts_with("御見積書")));
}

#[tokio::test]
async fn images_and_other_binaries_keep_their_bytes() {
    let env = Env::start().await;
    let png: Vec<u8> =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
            .to_vec();
    let key = upload_and_attach(&env, "dot.png", "image/png", &png, 2).await;
    let result = env.ok("downloadFile", json!({"fileKey": key})).await;
    match &result.content[1] {
        Content::Image(blob) => assert_eq!(
            (blob.mime_type.as_str(), blob.data.as_slice(), blob.name.as_deref()),
            ("image/png", png.as_slice(), Some("dot.png"))
        ),
        other => panic!("expected an image, got {other:?}"),
    }

    let pdf: Vec<u8> = (0u8..=255).cycle().take(5000).collect();
    let key = upload_and_attach(&env, "見積 書.pdf", "application/pdf", &pdf, 2).await;
    let result = env.ok("downloadFile", json!({"fileKey": key})).await;
    match &result.content[1] {
        Content::EmbeddedResource(blob) => {
            assert_eq!((blob.data.len(), blob.name.as_deref()), (5000, Some("見積 書.pdf")))
        }
        other => panic!("expected a resource, got {other:?}"),
    }
    assert_eq!(result.structured.as_ref().unwrap()["returnedAs"], "resource");

    let text = env.tool_error("downloadFile", json!({"fileKey": "no-such-key"})).await;
    assert!(text.contains("kintone returned an error"), "{text}");
}

#[tokio::test]
async fn uploads_arrive_as_one_multipart_part() {
    let env = Env::start().await;
    env.data(
        "uploadFile",
        json!({"file": {"name": "a.txt", "content": B64.encode("hello")}}),
    )
    .await;
    let sent = env.kintone_requests();
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/k/v1/file.json")
    );
    assert!(sent[0]
        .content_type
        .as_deref()
        .unwrap()
        .starts_with("multipart/form-data; boundary="));
}

#[tokio::test]
async fn files_over_the_limit_are_refused() {
    let env = Env::start().await;
    // Put a large file in kintone directly (the tool itself refuses to upload one).
    let big = vec![b'x'; DOWNLOAD_MAX_BYTES + 1];
    let boundary = "----test-boundary-9f2c";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
    body.extend_from_slice(&big);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/k/v1/file.json", env.conn.base_url))
        .bearer_auth(&env.conn.access_token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let upload_key = serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap()["fileKey"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(
        "updateRecord",
        json!({"appId": 2, "id": 2, "record": {"見積書": {"value": [{"fileKey": upload_key}]}}}),
    )
    .await;
    let key = env.data("getRecord", json!({"appId": 2, "id": 2})).await["record"]["見積書"]["value"][0]["fileKey"]
        .as_str()
        .unwrap()
        .to_string();

    let text = env.tool_error("downloadFile", json!({"fileKey": key})).await;
    assert!(
        text.contains(&format!("{} bytes", DOWNLOAD_MAX_BYTES + 1)) && text.contains("5 MiB"),
        "{text}"
    );

    env.fake.clear_requests();
    let text = env
        .tool_error(
            "uploadFile",
            json!({"file": {"name": "big.bin", "content": B64.encode(&big)}}),
        )
        .await;
    assert!(text.contains("upload limit"), "{text}");
    assert!(env.kintone_requests().is_empty());
}
