//! Compression for the `zlib` built-in (gzip, zlib deflate and raw deflate), with flate2.

use std::io::{Read, Write};

use flate2::Compression;

/// Runs `op` (`gzip`, `gunzip`, `deflate`, `inflate`, `deflateRaw`, `inflateRaw`, `unzip`)
/// over `data`; the error text is Node's style (`incorrect header check`, …).
pub(crate) fn run(op: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let gzip_magic = data.starts_with(&[0x1f, 0x8b]);
    let zlib_header = data.len() >= 2
        && data[0] & 0x0f == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    if (op == "gunzip" && !gzip_magic) || (op == "inflate" && !zlib_header) {
        return Err("incorrect header check".to_owned());
    }
    let res = match op {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
            e.write_all(data).and_then(|()| e.finish()).map(|v| out = v)
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(data).and_then(|()| e.finish()).map(|v| out = v)
        }
        "deflateRaw" => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
            e.write_all(data).and_then(|()| e.finish()).map(|v| out = v)
        }
        "gunzip" => flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .map(drop),
        "inflate" => flate2::read::ZlibDecoder::new(data)
            .read_to_end(&mut out)
            .map(drop),
        "inflateRaw" => flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .map(drop),
        "unzip" => {
            if gzip_magic {
                flate2::read::MultiGzDecoder::new(data)
                    .read_to_end(&mut out)
                    .map(drop)
            } else {
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut out)
                    .map(drop)
            }
        }
        other => return Err(format!("unsupported zlib operation {other}")),
    };
    res.map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            "incorrect header check".to_owned()
        }
        std::io::ErrorKind::UnexpectedEof => "unexpected end of file".to_owned(),
        _ => e.to_string(),
    })?;
    Ok(out)
}
