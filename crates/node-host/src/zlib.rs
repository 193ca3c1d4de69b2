//! Compression for the `zlib` built-in: gzip, zlib deflate and raw deflate with flate2, and
//! brotli with the `brotli` crate. Errors carry Node's message, code and errno.

use std::io::{Read, Write};

use flate2::Compression;

/// A failed (de)compression, as Node reports it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ZlibError {
    pub message: String,
    pub code: String,
    pub errno: i32,
}

impl ZlibError {
    fn new(message: &str, code: &str, errno: i32) -> Self {
        Self {
            message: message.to_owned(),
            code: code.to_owned(),
            errno,
        }
    }

    fn data() -> Self {
        Self::new("incorrect header check", "Z_DATA_ERROR", -3)
    }

    fn truncated() -> Self {
        Self::new("unexpected end of file", "Z_BUF_ERROR", -5)
    }
}

/// Options of an operation: the deflate `level` (0–9) or brotli quality (0–11), and the brotli
/// window (`lgwin`, 10–24). `None` means Node's default.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ZlibOptions {
    pub level: Option<i32>,
    pub window: Option<i32>,
}

/// Runs `op` (`gzip`, `gunzip`, `deflate`, `inflate`, `deflateRaw`, `inflateRaw`, `unzip`,
/// `brotliCompress`, `brotliDecompress`) over `data`.
pub(crate) fn run(op: &str, data: &[u8], opts: ZlibOptions) -> Result<Vec<u8>, ZlibError> {
    match op {
        "brotliCompress" => return Ok(brotli_compress(data, opts)),
        "brotliDecompress" => return brotli_decompress(data),
        _ => {}
    }
    let mut out = Vec::new();
    let gzip_magic = data.starts_with(&[0x1f, 0x8b]);
    let zlib_header = data.len() >= 2
        && data[0] & 0x0f == 8
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
    if (op == "gunzip" && !gzip_magic) || (op == "inflate" && !zlib_header) {
        return Err(ZlibError::data());
    }
    let level = match opts.level {
        Some(l @ 0..=9) => Compression::new(l.unsigned_abs()),
        _ => Compression::default(),
    };
    let res = match op {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(data).and_then(|()| e.finish()).map(|v| out = v)
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
            e.write_all(data).and_then(|()| e.finish()).map(|v| out = v)
        }
        "deflateRaw" => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
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
        other => {
            return Err(ZlibError::new(
                &format!("unsupported zlib operation {other}"),
                "ERR_INVALID_ARG_VALUE",
                -2,
            ));
        }
    };
    res.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ZlibError::truncated(),
        _ => ZlibError::data(),
    })?;
    Ok(out)
}

/// Brotli with Node's defaults: quality 11, window 22.
fn brotli_compress(data: &[u8], opts: ZlibOptions) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: opts.level.map_or(11, |q| q.clamp(0, 11)),
        lgwin: opts.window.map_or(22, |w| w.clamp(10, 24)),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut input = data;
    // Reading a slice and writing a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    out
}

/// Brotli decoding with the decoder's own error codes, named as Node names them
/// (`BROTLI_DECODER_ERROR_FORMAT_PADDING_1` → `ERR__ERROR_FORMAT_PADDING_1`, errno -14).
fn brotli_decompress(data: &[u8]) -> Result<Vec<u8>, ZlibError> {
    use brotli::{BrotliResult, HeapAlloc, HuffmanCode};
    let mut state = brotli::BrotliState::new(
        HeapAlloc::<u8>::new(0),
        HeapAlloc::<u32>::new(0),
        HeapAlloc::<HuffmanCode>::new(HuffmanCode::default()),
    );
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut available_in, mut input_offset, mut total_out) = (data.len(), 0, 0);
    loop {
        let (mut available_out, mut output_offset) = (buf.len(), 0);
        let result = brotli::BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            data,
            &mut available_out,
            &mut output_offset,
            &mut buf,
            &mut total_out,
            &mut state,
        );
        out.extend_from_slice(&buf[..output_offset]);
        match result {
            BrotliResult::NeedsMoreOutput => {}
            BrotliResult::ResultSuccess => return Ok(out),
            BrotliResult::NeedsMoreInput => return Err(ZlibError::truncated()),
            BrotliResult::ResultFailure => {
                let code = state.error_code;
                let name = format!("{code:?}");
                let suffix = name.strip_prefix("BROTLI_DECODER").unwrap_or(&name);
                return Err(ZlibError::new(
                    "Decompression failed",
                    &format!("ERR_{suffix}"),
                    code as i32,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_deflate_streams_are_buf_errors() {
        // Node 20: gunzipSync / inflateSync / inflateRawSync of a truncated stream fail with
        // "unexpected end of file", Z_BUF_ERROR, -5.
        let o = ZlibOptions::default();
        let text = b"hello world hello world";
        for (pack, unpack, keep) in [
            ("gzip", "gunzip", 12),
            ("deflate", "inflate", 6),
            ("deflateRaw", "inflateRaw", 4),
        ] {
            let packed = run(pack, text, o).unwrap();
            assert_eq!(run(unpack, &packed, o).unwrap(), text);
            assert_eq!(
                run(unpack, &packed[..keep], o),
                Err(ZlibError::truncated()),
                "{unpack}"
            );
        }
    }

    #[test]
    fn brotli_round_trip_and_node_errors() {
        let text = "hello brotli ".repeat(100);
        let packed = run("brotliCompress", text.as_bytes(), ZlibOptions::default()).unwrap();
        assert!(packed.len() < text.len() / 5);
        let unpacked = run("brotliDecompress", &packed, ZlibOptions::default()).unwrap();
        assert_eq!(unpacked, text.as_bytes());
        // Node 20: zlib.brotliCompressSync('hello') is 0b028068656c6c6f03.
        assert_eq!(
            run("brotliCompress", b"hello", ZlibOptions::default()).unwrap(),
            [0x0b, 0x02, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x03]
        );
        // Node 20: brotliDecompressSync(Buffer.from('garbage data here')) fails with
        // "Decompression failed", ERR__ERROR_FORMAT_PADDING_1, errno -14; a truncated stream
        // with "unexpected end of file", Z_BUF_ERROR, -5.
        assert_eq!(
            run(
                "brotliDecompress",
                b"garbage data here",
                ZlibOptions::default()
            ),
            Err(ZlibError::new(
                "Decompression failed",
                "ERR__ERROR_FORMAT_PADDING_1",
                -14
            ))
        );
        assert_eq!(
            run("brotliDecompress", &packed[..3], ZlibOptions::default()),
            Err(ZlibError::truncated())
        );
    }
}
