//! Reading spreadsheets as county offices send them: CSV in UTF-8 (with or without BOM) or
//! GBK/GB18030 (detected), CRLF or LF, and XLSX/XLS. Rows stream out with the row number the
//! user sees in the spreadsheet (header = row 1), and the file's SHA-256 is computed on the way.

use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    #[error("无法读取文件：{0}")]
    Io(#[from] std::io::Error),
    #[error("无法解析表格文件：{0}")]
    Parse(String),
    #[error("文件是空的，没有表头行")]
    Empty,
}

#[derive(Debug, Clone)]
pub struct TableRow {
    /// Row number as shown in a spreadsheet program (the header is row 1).
    pub line: u64,
    pub cells: Vec<String>,
}

pub type RowIter = Box<dyn Iterator<Item = Result<TableRow, TabularError>> + Send>;

/// An opened table: its header row and a stream of data rows.
pub struct Table {
    pub headers: Vec<String>,
    pub rows: RowIter,
    /// Filled in once the rows have been read to the end.
    pub sha256: Arc<Mutex<Option<String>>>,
    pub encoding: &'static str,
}

impl Table {
    pub fn sha256(&self) -> Option<String> {
        self.sha256.lock().ok().and_then(|h| h.clone())
    }
}

pub fn open_path(path: &Path) -> Result<Table, TabularError> {
    let mut file = std::fs::File::open(path)?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut file, &mut head)?;
    head.truncate(n);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if is_workbook(&name, &head) {
        let mut bytes = head;
        file.read_to_end(&mut bytes)?;
        return open_workbook(bytes);
    }
    Ok(open_csv(Cursor::new(head.clone()).chain(file), &head))
}

/// Opens an uploaded file held in memory.
pub fn open_bytes(file_name: &str, bytes: Vec<u8>) -> Result<Table, TabularError> {
    let head: Vec<u8> = bytes[..bytes.len().min(64 * 1024)].to_vec();
    if is_workbook(&file_name.to_lowercase(), &head) {
        return open_workbook(bytes);
    }
    Ok(open_csv(Cursor::new(bytes), &head))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn is_workbook(name: &str, head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
        || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
        || name.ends_with(".xlsx")
        || name.ends_with(".xls")
}

/// UTF-8 when the first 64 KiB are valid UTF-8 (a multi-byte character cut at the end is
/// fine), GB18030 (a superset of GBK and GB2312) otherwise. BOMs win.
pub fn detect_encoding(head: &[u8]) -> &'static encoding_rs::Encoding {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(head) {
        return enc;
    }
    match std::str::from_utf8(head) {
        Ok(_) => encoding_rs::UTF_8,
        Err(e) if e.error_len().is_none() => encoding_rs::UTF_8,
        Err(_) => encoding_rs::GB18030,
    }
}

/// Feeds every byte read through SHA-256.
struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    out: Arc<Mutex<Option<String>>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            if n == 0 {
                let digest = self.hasher.take().map(|h| hex::encode(h.finalize()));
                if let Ok(mut slot) = self.out.lock() {
                    *slot = digest;
                }
            } else {
                h.update(&buf[..n]);
            }
        }
        Ok(n)
    }
}

fn open_csv<R: Read + Send + 'static>(source: R, head: &[u8]) -> Table {
    let encoding = detect_encoding(head);
    let out = Arc::new(Mutex::new(None));
    let hashing = HashingReader {
        inner: source,
        hasher: Some(Sha256::new()),
        out: out.clone(),
    };
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .bom_override(true)
        .bom_sniffing(true)
        .build(hashing);
    let marked = BlankLineMarker {
        inner: decoded,
        raw: Vec::new(),
        pending: Vec::new(),
        pos: 0,
        at_line_start: true,
        in_quotes: false,
        marked: false,
    };
    let boxed: Box<dyn Read + Send> = Box::new(marked);
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(boxed)
        .into_records();
    let headers = match records.next() {
        Some(Ok(h)) => h
            .iter()
            .map(|s| s.trim_start_matches('\u{feff}').trim().to_string())
            .collect(),
        _ => Vec::new(),
    };
    // One record per spreadsheet row (blank lines arrive as blank records, see BlankLineMarker).
    let mut line = 1u64;
    let rows = records.filter_map(move |r| {
        line += 1;
        match r {
            Ok(rec) => {
                if rec.iter().all(|c| c.trim().is_empty()) {
                    return None;
                }
                Some(Ok(TableRow {
                    line,
                    cells: rec.iter().map(str::to_string).collect(),
                }))
            }
            Err(e) => Some(Err(TabularError::Parse(format!("第 {line} 行：{e}")))),
        }
    });
    Table {
        headers,
        rows: Box::new(rows),
        sha256: out,
        encoding: encoding.name(),
    }
}

/// The CSV reader skips empty lines, but a spreadsheet program shows them as rows: put a space
/// on each empty line (outside quoted cells) so it arrives as a blank record and row numbers
/// in error reports match what the user sees.
struct BlankLineMarker<R> {
    inner: R,
    /// Read buffer, reused (a fresh zeroed buffer per read cost more than the rest).
    raw: Vec<u8>,
    /// Marked bytes not yet handed out, from `pos` on.
    pending: Vec<u8>,
    pos: usize,
    at_line_start: bool,
    in_quotes: bool,
    /// This empty line already got its space.
    marked: bool,
}

impl<R: Read> BlankLineMarker<R> {
    /// Copies `raw[..n]` to `pending`, adding the spaces. Only quotes and line ends change
    /// the state, so the text between them is copied in one piece.
    fn mark(&mut self, n: usize) {
        self.pending.clear();
        self.pos = 0;
        self.pending.reserve(n + 16);
        let raw = &self.raw[..n];
        let mut copied = 0;
        let mut i = 0;
        while let Some(off) = memchr::memchr3(b'"', b'\r', b'\n', &raw[i..]) {
            let at = i + off;
            if at > i {
                // Ordinary bytes before the special one: the line has content.
                self.at_line_start = false;
            }
            let b = raw[at];
            if b == b'"' {
                self.in_quotes = !self.in_quotes;
                self.at_line_start = false;
            } else {
                if !self.in_quotes && self.at_line_start && !self.marked {
                    self.pending.extend_from_slice(&raw[copied..at]);
                    self.pending.push(b' ');
                    copied = at;
                    self.marked = true;
                }
                if !self.in_quotes && b == b'\n' {
                    self.at_line_start = true;
                    self.marked = false;
                }
            }
            i = at + 1;
        }
        if i < n {
            self.at_line_start = false;
        }
        self.pending.extend_from_slice(&raw[copied..n]);
    }
}

impl<R: Read> Read for BlankLineMarker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.pending.len() {
            let want = buf.len().max(1);
            if self.raw.len() < want {
                self.raw.resize(want, 0);
            }
            let n = self.inner.read(&mut self.raw[..want])?;
            if n == 0 {
                return Ok(0);
            }
            self.mark(n);
        }
        let n = (self.pending.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn open_workbook(bytes: Vec<u8>) -> Result<Table, TabularError> {
    use calamine::{Reader, open_workbook_auto_from_rs};
    let digest = hex::encode(Sha256::digest(&bytes));
    let mut wb = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| TabularError::Parse(e.to_string()))?;
    let sheet = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or(TabularError::Empty)?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| TabularError::Parse(e.to_string()))?;
    let start_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    let mut rows_iter = range
        .rows()
        .map(|r| r.iter().map(cell_text).collect::<Vec<String>>())
        .collect::<Vec<_>>()
        .into_iter();
    let headers: Vec<String> = rows_iter
        .next()
        .ok_or(TabularError::Empty)?
        .into_iter()
        .map(|h| h.trim().to_string())
        .collect();
    let rows = rows_iter.enumerate().filter_map(move |(i, cells)| {
        if cells.iter().all(|c| c.trim().is_empty()) {
            return None;
        }
        Some(Ok(TableRow {
            line: start_row + i as u64 + 2,
            cells,
        }))
    });
    Ok(Table {
        headers,
        rows: Box::new(rows),
        sha256: Arc::new(Mutex::new(Some(digest))),
        encoding: "xlsx",
    })
}

fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("{e:?}"),
        #[allow(unreachable_patterns)]
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(t: Table) -> (Vec<String>, Vec<TableRow>, Option<String>) {
        let Table {
            headers,
            rows,
            sha256,
            ..
        } = t;
        let rows: Vec<TableRow> = rows.map(|r| r.unwrap()).collect();
        let digest = sha256.lock().unwrap().clone();
        (headers, rows, digest)
    }

    #[test]
    fn gbk_csv_with_crlf_is_detected_and_decoded() {
        let text = "户编号,姓名\r\nH1,张三\r\n\r\nH2,李四\r\n";
        let (bytes, _, _) = encoding_rs::GBK.encode(text);
        let (headers, rows, digest) = collect(open_bytes("a.csv", bytes.into_owned()).unwrap());
        assert_eq!(headers, ["户编号", "姓名"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].cells, ["H2", "李四"]);
        assert_eq!(
            rows[1].line, 4,
            "the blank line still counts as a spreadsheet row"
        );
        assert_eq!(digest.unwrap().len(), 64);
    }

    #[test]
    fn blank_lines_inside_quoted_cells_are_left_alone() {
        let bytes = "a,b\n\"line1\n\nline3\",x\n\nH,y\n".as_bytes().to_vec();
        let (_, rows, _) = collect(open_bytes("a.csv", bytes).unwrap());
        assert_eq!(rows[0].cells[0], "line1\n\nline3");
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn utf8_with_bom_loses_the_bom() {
        let bytes = "\u{feff}户编号,姓名\nH1,张三\n".as_bytes().to_vec();
        let (headers, rows, _) = collect(open_bytes("a.csv", bytes).unwrap());
        assert_eq!(headers[0], "户编号");
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn detection_tolerates_a_cut_multibyte_character() {
        let s = "张三".as_bytes();
        assert_eq!(detect_encoding(&s[..4]), encoding_rs::UTF_8);
        let (gbk, _, _) = encoding_rs::GBK.encode("张三");
        assert_eq!(detect_encoding(&gbk), encoding_rs::GB18030);
    }

    #[test]
    fn xlsx_rows_keep_their_spreadsheet_numbers() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "户编号").unwrap();
        ws.write_string(0, 1, "识别年度").unwrap();
        ws.write_string(1, 0, "H1").unwrap();
        ws.write_number(1, 1, 2014.0).unwrap();
        ws.write_string(3, 0, "H2").unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let (headers, rows, _) = collect(open_bytes("a.xlsx", bytes).unwrap());
        assert_eq!(headers, ["户编号", "识别年度"]);
        assert_eq!(rows[0].cells, ["H1", "2014"]);
        assert_eq!(rows[1].line, 4);
    }
}
