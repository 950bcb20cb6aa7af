//! NumPy `.npz` archives: the tensor-in, tensor-out format researchers already use with JAX.
//!
//! Reading accepts little-endian float32/float64/float16 and integer arrays in C order
//! (converted to f32); writing produces float32 or int32 arrays that `np.load` reads back.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;

/// One array, values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self { shape, data: NpyData::F32(data) }
    }

    pub fn i32(shape: Vec<usize>, data: Vec<i32>) -> Self {
        Self { shape, data: NpyData::I32(data) }
    }

    /// The values as f32 (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::I32(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("array `{name}` in {path}: {message}")]
    Array { path: String, name: String, message: String },
}

/// Reads every array of an `.npz` file; names lose their `.npy` suffix.
pub fn read(path: &Path) -> Result<BTreeMap<String, NpyArray>, NpzError> {
    let shown = path.display().to_string();
    let read_err = |message: String| NpzError::Read { path: shown.clone(), message };
    let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| read_err(format!("not an .npz (zip) archive: {e}")))?;
    let mut arrays = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| read_err(e.to_string()))?;
        let name = entry.name().trim_end_matches(".npy").to_owned();
        // A declared size far beyond anything sensible is refused before allocating.
        if entry.size() > 1 << 34 {
            return Err(read_err(format!("entry `{name}` declares {} bytes", entry.size())));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| read_err(format!("entry `{name}`: {e}")))?;
        let array = parse_npy(&bytes).map_err(|message| NpzError::Array { path: shown.clone(), name: name.clone(), message })?;
        arrays.insert(name, array);
    }
    Ok(arrays)
}

/// Writes arrays to `path` atomically (temporary file, then rename).
pub fn write(path: &Path, arrays: &BTreeMap<String, NpyArray>, overwrite: bool) -> Result<(), NpzError> {
    let write_err = |message: String| NpzError::Write { path: path.display().to_string(), message };
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(true);
        for (name, array) in arrays {
            zip.start_file(format!("{name}.npy"), options).map_err(|e| write_err(e.to_string()))?;
            zip.write_all(&encode_npy(array)).map_err(|e| write_err(e.to_string()))?;
        }
        zip.finish().map_err(|e| write_err(e.to_string()))?;
    }
    crate::fsutil::write_atomic(path, buffer.get_ref(), overwrite).map_err(|e| write_err(e.to_string()))
}

fn encode_npy(array: &NpyArray) -> Vec<u8> {
    let descr = match array.data {
        NpyData::F32(_) => "<f4",
        NpyData::I32(_) => "<i4",
    };
    let shape = match array.shape.len() {
        1 => format!("({},)", array.shape[0]),
        _ => format!("({})", array.shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that the data starts on a 64-byte boundary, header ends with '\n'.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + array.shape.iter().product::<usize>() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &array.data {
        NpyData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// Parses one `.npy` file.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes.get(start..start + header_len).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header.find(&format!("'{key}'")).ok_or(format!("header lacks '{key}'"))?;
        Ok(header[at + key.len() + 2..].trim_start_matches([':', ' ']))
    };
    let descr = field("descr")?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let descr = &descr[..descr.find(['\'', '"']).ok_or("bad descr")?];
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into());
    }
    let shape_text = field("shape")?;
    let open = shape_text.find('(').ok_or("bad shape")?;
    let close = shape_text.find(')').ok_or("bad shape")?;
    let shape_text = shape_text.get(open + 1..close).ok_or("bad shape")?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad dimension `{s}`")))
        .collect::<Result<_, _>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    let data = &bytes[start + header_len..];
    let (width, kind) = match descr {
        "<f4" | "=f4" => (4, 'f'),
        "<f8" | "=f8" => (8, 'f'),
        "<f2" | "=f2" => (2, 'f'),
        "<i4" | "=i4" => (4, 'i'),
        "<i8" | "=i8" => (8, 'i'),
        "|u1" | "|i1" | "|b1" => (1, 'u'),
        other => return Err(format!("dtype {other} is not supported (use float32)")),
    };
    if data.len() != count.checked_mul(width).ok_or("shape overflows")? {
        return Err(format!("shape {shape:?} needs {} bytes, the file holds {}", count * width, data.len()));
    }
    let values = data.chunks_exact(width);
    let out = match (kind, width) {
        ('f', 4) => NpyData::F32(values.map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        ('f', 8) => NpyData::F32(values.map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32).collect()),
        ('f', _) => NpyData::F32(values.map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()),
        ('i', 4) => NpyData::I32(values.map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        ('i', _) => NpyData::I32(values.map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as i32).collect()),
        _ => NpyData::I32(values.map(|c| i32::from(c[0])).collect()),
    };
    Ok(NpyArray { shape, data: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let array = NpyArray::f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        let parsed = parse_npy(&encode_npy(&array)).unwrap();
        assert_eq!(parsed, array);
        let ints = NpyArray::i32(vec![4], vec![1, -2, 3, 4]);
        assert_eq!(parse_npy(&encode_npy(&ints)).unwrap(), ints);
        assert!(parse_npy(b"hello world").is_err());
        let mut truncated = encode_npy(&array);
        truncated.truncate(truncated.len() - 3);
        assert!(parse_npy(&truncated).unwrap_err().contains("needs 24 bytes"));
        // Regression: a shape whose parentheses are reversed used to panic on slicing.
        let mut reversed = b"\x93NUMPY\x01\x00".to_vec();
        let header = b"{'descr': '<f4', 'fortran_order': False, 'shape': )(, }\n";
        reversed.extend_from_slice(&(header.len() as u16).to_le_bytes());
        reversed.extend_from_slice(header);
        assert!(parse_npy(&reversed).is_err());
    }
}
