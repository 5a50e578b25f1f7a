//! Reading spreadsheets as county offices send them: CSV in UTF-8 (with or without BOM) or
//! GBK/GB18030 (detected), CRLF or LF, and XLSX. Rows stream out with the row number the user
//! sees in the spreadsheet (header = row 1), and the file's SHA-256 is computed on the way.
//!
//! Files come from outside the trust boundary, so every reader works within `ReadLimits`,
//! checked before or while bytes are read and never taken from what the file declares: rows,
//! columns, bytes per row, bytes unzipped, the shared-string table and the time spent reading.
//! XLSX is read here, streaming, rather than by a spreadsheet library: the ones available
//! preallocate from declared counts (a 1 KB file asked for exabytes) and hold the whole sheet
//! as a dense grid (cells A1 and XFD1048576 took gigabytes). Old binary .xls is refused.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// Bounds on what reading one file may cost. `Default` holds the documented defaults;
/// `from_lookup` applies the overrides (the only place they are read): from the environment
/// (`from_env`), or from the environment and the configuration file (the command line's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest upload accepted (enforced by the web layer while the upload is saved).
    pub upload_bytes: u64,
    /// Last spreadsheet row number (header = row 1) a file may use.
    pub rows: u64,
    /// Last column a file may use.
    pub columns: usize,
    /// Bytes all XLSX parts together may expand to.
    pub unzipped_bytes: u64,
    /// Memory for an XLSX shared-string table: its text plus 4 bytes per string.
    pub shared_strings_bytes: u64,
    /// Time spent reading (not the time a caller spends between rows).
    pub parse_time: Duration,
    /// One CSV record (a line, or a quoted cell over several lines), one XLSX row's text, one
    /// XML tag or text: a spreadsheet cell holds at most 32,767 characters.
    pub record_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> ReadLimits {
        ReadLimits {
            upload_bytes: 256 * MIB,
            rows: 1_048_576,
            columns: 256,
            unzipped_bytes: 2048 * MIB,
            shared_strings_bytes: 128 * MIB,
            parse_time: Duration::from_secs(300),
            record_bytes: MIB,
        }
    }
}

impl ReadLimits {
    /// The defaults with the `BANGFU_…` environment overrides applied.
    pub fn from_env() -> Result<ReadLimits, String> {
        ReadLimits::from_lookup(|k| std::env::var(k).ok().map(|v| (v, format!("环境变量 {k}"))))
    }

    /// Like `from_env`, reading each `BANGFU_…` setting through `get`, which returns its value
    /// and where it was found (named in the message when the value is wrong).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<ReadLimits, String> {
        let mut l = ReadLimits::default();
        let num = |name: &str, default: u64| -> Result<u64, String> {
            match get(name)
                .map(|(v, origin)| (v.trim().to_string(), origin))
                .filter(|(v, _)| !v.is_empty())
            {
                None => Ok(default),
                Some((v, origin)) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("{origin} 的值“{v}”无效：应为正整数")),
                },
            }
        };
        l.upload_bytes = num("BANGFU_UPLOAD_MAX_BYTES", l.upload_bytes)?;
        l.rows = num("BANGFU_SHEET_MAX_ROWS", l.rows)?;
        l.columns = usize::try_from(num("BANGFU_SHEET_MAX_COLUMNS", l.columns as u64)?)
            .unwrap_or(usize::MAX);
        l.unzipped_bytes = num("BANGFU_XLSX_MAX_UNZIPPED_BYTES", l.unzipped_bytes)?;
        l.shared_strings_bytes = num(
            "BANGFU_XLSX_MAX_SHARED_STRINGS_BYTES",
            l.shared_strings_bytes,
        )?;
        l.parse_time = Duration::from_secs(num("BANGFU_PARSE_SECONDS", l.parse_time.as_secs())?);
        Ok(l)
    }
}

/// "256 MiB" for whole mebibytes, the byte count otherwise.
pub fn size_text(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} 字节")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TabularError {
    #[error("无法读取文件：{0}")]
    Io(#[from] std::io::Error),
    #[error("无法解析表格文件：{0}")]
    Parse(String),
    #[error("文件是空的，没有表头行")]
    Empty,
    #[error("不支持旧版 Excel（.xls）文件：请在 Excel 或 WPS 中另存为 .xlsx 或 CSV 后再上传")]
    OldExcel,
    #[error("不是有效的 XLSX 文件（{0}）：请在 Excel 或 WPS 中另存为 .xlsx 或 CSV 后再上传")]
    NotXlsx(String),
    #[error("上传的文件超过上限：最大 {}", size_text(*max))]
    TooLarge { max: u64 },
    #[error("第 {row} 行超出限制：最多 {max} 行")]
    TooManyRows { row: u64, max: u64 },
    #[error("第 {row} 行 {column} 列超出限制：最多 {max} 列")]
    TooManyColumns {
        row: u64,
        column: String,
        max: usize,
    },
    #[error("第 {row} 行超出限制：一行最多 {}，文件可能已损坏", size_text(*max))]
    RowTooLong { row: u64, max: u64 },
    #[error("XLSX 文件解压后超过上限：最大 {}（可能是压缩炸弹），已停止读取", size_text(*max))]
    Unzipped { max: u64 },
    #[error("XLSX 的共享字符串表超出限制：{0}")]
    SharedStrings(String),
    #[error("读取文件超过 {seconds} 秒的时限，已停止")]
    TooSlow { seconds: u64 },
}

impl TabularError {
    /// The file is over a size bound (as opposed to malformed): the web layer answers 413.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            TabularError::TooLarge { .. }
                | TabularError::Unzipped { .. }
                | TabularError::SharedStrings(_)
        )
    }
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

/// Opens a file with the default limits.
pub fn open_path(path: &Path) -> Result<Table, TabularError> {
    open_path_with(path, &ReadLimits::default())
}

/// Opens a file on disk (uploads are saved to disk first). The kind is recognised from the
/// content, then the name.
pub fn open_path_with(path: &Path, limits: &ReadLimits) -> Result<Table, TabularError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    open_source(&name, std::fs::File::open(path)?, limits)
}

/// Opens a file held in memory, with the default limits (tests and small generated files).
pub fn open_bytes(file_name: &str, bytes: Vec<u8>) -> Result<Table, TabularError> {
    open_bytes_with(file_name, bytes, &ReadLimits::default())
}

pub fn open_bytes_with(
    file_name: &str,
    bytes: Vec<u8>,
    limits: &ReadLimits,
) -> Result<Table, TabularError> {
    open_source(&file_name.to_lowercase(), Cursor::new(bytes), limits)
}

fn open_source<S: Read + Seek + Send + 'static>(
    name: &str,
    mut source: S,
    limits: &ReadLimits,
) -> Result<Table, TabularError> {
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut source, &mut head)?;
    head.truncate(n);
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
        || (name.ends_with(".xls") && !head.starts_with(b"PK"))
    {
        return Err(TabularError::OldExcel);
    }
    let clock = Clock::new(limits.parse_time);
    clock.resume();
    let table = if head.starts_with(b"PK") || name.ends_with(".xlsx") {
        source.seek(SeekFrom::Start(0))?;
        xlsx::open(source, limits, clock.clone())
    } else {
        open_csv(
            Cursor::new(head.clone()).chain(source),
            &head,
            limits,
            clock.clone(),
        )
    };
    clock.pause();
    table
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

/// Exports write `'` before a value a spreadsheet would run as a formula (`'=1+1`); reading
/// drops it again so an exported file imports unchanged.
fn strip_apostrophe(s: &str) -> &str {
    s.strip_prefix('\'').unwrap_or(s)
}

/// Reading time: runs while a reader works, stops while the caller holds a row (an import may
/// spend minutes writing between rows; only the reading is bounded).
#[derive(Clone)]
struct Clock(Arc<Mutex<ClockState>>);

struct ClockState {
    limit: Duration,
    spent: Duration,
    since: Option<Instant>,
}

impl Clock {
    fn new(limit: Duration) -> Clock {
        Clock(Arc::new(Mutex::new(ClockState {
            limit,
            spent: Duration::ZERO,
            since: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resume(&self) {
        let mut s = self.state();
        if s.since.is_none() {
            s.since = Some(Instant::now());
        }
    }

    fn pause(&self) {
        let mut s = self.state();
        if let Some(t) = s.since.take() {
            s.spent += t.elapsed();
        }
    }

    fn check(&self) -> Result<(), TabularError> {
        let s = self.state();
        let spent = s.spent + s.since.map(|t| t.elapsed()).unwrap_or_default();
        if spent > s.limit {
            Err(TabularError::TooSlow {
                seconds: s.limit.as_secs(),
            })
        } else {
            Ok(())
        }
    }
}

/// Where a reader deep inside a parser leaves the reason it stopped: the parser only passes
/// on an I/O error, and the user should see the limit, not "I/O error".
type Refusal = Arc<Mutex<Option<TabularError>>>;

fn refuse(slot: &Refusal, e: TabularError) -> std::io::Error {
    let text = e.to_string();
    if let Ok(mut s) = slot.lock()
        && s.is_none()
    {
        *s = Some(e);
    }
    std::io::Error::other(text)
}

fn take_refusal(slot: &Refusal) -> Option<TabularError> {
    slot.lock().ok().and_then(|mut s| s.take())
}

/// Checks the clock on every read and counts bytes against `max` (the unzipped budget of an
/// XLSX part; unbounded for a CSV, whose rows and records are bounded instead).
struct Guarded<R> {
    inner: R,
    clock: Clock,
    count: Arc<Mutex<u64>>,
    max: u64,
    slot: Refusal,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Err(e) = self.clock.check() {
            return Err(refuse(&self.slot, e));
        }
        let n = self.inner.read(buf)?;
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        *count += n as u64;
        if *count > self.max {
            return Err(refuse(&self.slot, TabularError::Unzipped { max: self.max }));
        }
        Ok(n)
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

fn open_csv<R: Read + Send + 'static>(
    source: R,
    head: &[u8],
    limits: &ReadLimits,
    clock: Clock,
) -> Result<Table, TabularError> {
    let encoding = detect_encoding(head);
    let out = Arc::new(Mutex::new(None));
    let slot: Refusal = Arc::new(Mutex::new(None));
    let guarded = Guarded {
        inner: source,
        clock: clock.clone(),
        count: Arc::new(Mutex::new(0)),
        max: u64::MAX,
        slot: slot.clone(),
    };
    let hashing = HashingReader {
        inner: guarded,
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
        just_closed: false,
        last: b'\n',
        marked: false,
        record_len: 0,
        records_ended: 0,
        max_record: limits.record_bytes,
        slot: slot.clone(),
    };
    let boxed: Box<dyn Read + Send> = Box::new(marked);
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(boxed)
        .into_records();
    let (max_rows, max_columns) = (limits.rows, limits.columns);
    let csv_error = move |slot: &Refusal, line: u64, e: csv::Error| {
        take_refusal(slot).unwrap_or_else(|| TabularError::Parse(format!("第 {line} 行：{e}")))
    };
    let headers: Vec<String> = match records.next() {
        Some(Ok(h)) => {
            if h.len() > max_columns {
                return Err(TabularError::TooManyColumns {
                    row: 1,
                    column: column_letters(max_columns + 1),
                    max: max_columns,
                });
            }
            h.iter()
                .map(|s| strip_apostrophe(s.trim_start_matches('\u{feff}').trim()).to_string())
                .collect()
        }
        Some(Err(e)) => return Err(csv_error(&slot, 1, e)),
        None => return Err(take_refusal(&slot).unwrap_or(TabularError::Empty)),
    };
    // One record per spreadsheet row (blank lines arrive as blank records, see BlankLineMarker).
    let mut line = 1u64;
    let mut done = false;
    let rows = std::iter::from_fn(move || {
        while !done {
            clock.resume();
            let next = records.next();
            clock.pause();
            line += 1;
            let item = match next {
                None => {
                    done = true;
                    // A refusal that ended the stream without a parse error.
                    return take_refusal(&slot).map(Err);
                }
                Some(Err(e)) => Err(csv_error(&slot, line, e)),
                Some(Ok(_)) if line > max_rows => Err(TabularError::TooManyRows {
                    row: line,
                    max: max_rows,
                }),
                Some(Ok(rec)) if rec.len() > max_columns => Err(TabularError::TooManyColumns {
                    row: line,
                    column: column_letters(max_columns + 1),
                    max: max_columns,
                }),
                Some(Ok(rec)) => {
                    if rec.iter().all(|c| c.trim().is_empty()) {
                        continue;
                    }
                    Ok(TableRow {
                        line,
                        cells: rec
                            .iter()
                            .map(|c| strip_apostrophe(c).to_string())
                            .collect(),
                    })
                }
            };
            // A reader stops at its first error: the same error again and again would never end.
            done = item.is_err();
            return Some(item);
        }
        None
    });
    Ok(Table {
        headers,
        rows: Box::new(rows),
        sha256: out,
        encoding: encoding.name(),
    })
}

/// The CSV reader skips empty lines, but a spreadsheet program shows them as rows: put a space
/// on each empty line (outside quoted cells) so it arrives as a blank record and row numbers
/// in error reports match what the user sees. It also bounds each record in the byte stream,
/// before the CSV reader buffers it.
struct BlankLineMarker<R> {
    inner: R,
    /// Read buffer, reused (a fresh zeroed buffer per read cost more than the rest).
    raw: Vec<u8>,
    /// Marked bytes not yet handed out, from `pos` on.
    pending: Vec<u8>,
    pos: usize,
    at_line_start: bool,
    in_quotes: bool,
    /// The last quote closed a quoted cell: a quote right after it is an escaped quote.
    just_closed: bool,
    /// The byte before the current chunk (a quote opens a quoted cell only at a cell's start).
    last: u8,
    /// This empty line already got its space.
    marked: bool,
    /// Bytes of the current record seen so far.
    record_len: u64,
    records_ended: u64,
    max_record: u64,
    slot: Refusal,
}

impl<R: Read> BlankLineMarker<R> {
    /// Copies `raw[..n]` to `pending`, adding the spaces. Only quotes and line ends change
    /// the state, so the text between them is copied in one piece.
    fn mark(&mut self, n: usize) -> Result<(), TabularError> {
        self.pending.clear();
        self.pos = 0;
        self.pending.reserve(n + 16);
        let raw = &self.raw[..n];
        let mut copied = 0;
        let mut i = 0;
        let mut record_start = 0usize;
        while let Some(off) = memchr::memchr3(b'"', b'\r', b'\n', &raw[i..]) {
            let at = i + off;
            if at > i {
                // Ordinary bytes before the special one: the line has content.
                self.at_line_start = false;
                self.just_closed = false;
            }
            let prev = if at > 0 { raw[at - 1] } else { self.last };
            let b = raw[at];
            if b == b'"' {
                // As the CSV reader reads quotes: they open a cell only at its start, and
                // inside one a doubled quote is a quote.
                if self.in_quotes {
                    self.in_quotes = false;
                    self.just_closed = true;
                } else if self.just_closed || matches!(prev, b',' | b'\n' | b'\r') {
                    self.in_quotes = true;
                    self.just_closed = false;
                }
                self.at_line_start = false;
            } else {
                self.just_closed = false;
                if !self.in_quotes && self.at_line_start && !self.marked {
                    self.pending.extend_from_slice(&raw[copied..at]);
                    self.pending.push(b' ');
                    copied = at;
                    self.marked = true;
                }
                if !self.in_quotes {
                    let len = self.record_len + (at - record_start) as u64;
                    if len > self.max_record {
                        return Err(TabularError::RowTooLong {
                            row: self.records_ended + 1,
                            max: self.max_record,
                        });
                    }
                    self.record_len = 0;
                    record_start = at + 1;
                    if b == b'\n' {
                        self.at_line_start = true;
                        self.marked = false;
                        self.records_ended += 1;
                    }
                }
            }
            i = at + 1;
        }
        if i < n {
            self.at_line_start = false;
            self.just_closed = false;
        }
        if n > 0 {
            self.last = raw[n - 1];
        }
        self.record_len += (n - record_start) as u64;
        if self.record_len > self.max_record {
            return Err(TabularError::RowTooLong {
                row: self.records_ended + 1,
                max: self.max_record,
            });
        }
        self.pending.extend_from_slice(&raw[copied..n]);
        Ok(())
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
            if let Err(e) = self.mark(n) {
                return Err(refuse(&self.slot, e));
            }
        }
        let n = (self.pending.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Spreadsheet column letters: 1 → A, 27 → AA, 16384 → XFD.
pub fn column_letters(mut n: usize) -> String {
    let mut out = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        out.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

mod xlsx {
    //! The first worksheet of an XLSX file, streamed row by row.

    use super::*;
    use quick_xml::events::{BytesStart, Event};

    /// Parts we read, in the order read; their unzipped bytes share one budget.
    struct Budget {
        used: Arc<Mutex<u64>>,
        max: u64,
        clock: Clock,
        slot: Refusal,
    }

    impl Budget {
        fn guard<R: Read>(&self, inner: R) -> Guarded<R> {
            Guarded {
                inner,
                clock: self.clock.clone(),
                count: self.used.clone(),
                max: self.max,
                slot: self.slot.clone(),
            }
        }

        /// The reason a reader stopped, or the XML error as the user should read it.
        fn xml_error(&self, part: &str, e: quick_xml::Error) -> TabularError {
            take_refusal(&self.slot)
                .unwrap_or_else(|| TabularError::NotXlsx(format!("{part} 格式错误：{e}")))
        }
    }

    /// Bounds every XML event (a tag, a text, a comment) to `max` bytes: the XML reader
    /// collects an event whole before returning it.
    pub(super) struct EventBound<R> {
        inner: BufReader<R>,
        since_event: u64,
        max: u64,
        slot: Refusal,
    }

    impl<R: Read> EventBound<R> {
        fn new(inner: R, max: u64, slot: Refusal) -> EventBound<R> {
            EventBound {
                inner: BufReader::with_capacity(64 * 1024, inner),
                since_event: 0,
                max,
                slot,
            }
        }
    }

    impl<R: Read> Read for EventBound<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.since_event += n as u64;
            Ok(n)
        }
    }

    impl<R: Read> BufRead for EventBound<R> {
        fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
            if self.since_event > self.max {
                return Err(refuse(
                    &self.slot,
                    TabularError::Parse(format!(
                        "XML 中有超过 {} 的单个元素或文本，文件可能已损坏",
                        size_text(self.max)
                    )),
                ));
            }
            self.inner.fill_buf()
        }

        fn consume(&mut self, amt: usize) {
            self.since_event += amt as u64;
            self.inner.consume(amt);
        }
    }

    type Xml<R> = quick_xml::Reader<EventBound<R>>;

    fn xml_reader<R: Read>(inner: R, limits: &ReadLimits, slot: &Refusal) -> Xml<R> {
        let mut r = quick_xml::Reader::from_reader(EventBound::new(
            inner,
            limits.record_bytes,
            slot.clone(),
        ));
        r.config_mut().check_end_names = false;
        r
    }

    /// Reads the next event, starting a new per-event allowance.
    fn next_event<'b, R: Read>(
        xml: &mut Xml<R>,
        buf: &'b mut Vec<u8>,
    ) -> quick_xml::Result<Event<'b>> {
        xml.get_mut().since_event = 0;
        buf.clear();
        xml.read_event_into(buf)
    }

    fn attr(e: &BytesStart<'_>, local: &str, prefixed: Option<bool>) -> Option<String> {
        e.attributes().flatten().find_map(|a| {
            let ok = a.key.local_name().as_ref() == local
                && prefixed.is_none_or(|p| a.key.prefix().is_some() == p);
            ok.then(|| {
                quick_xml::escape::unescape(&a.value)
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| a.value.to_string())
            })
        })
    }

    /// Appends the text of a text or entity-reference event.
    fn push_text(out: &mut String, event: &Event<'_>) {
        match event {
            Event::Text(t) => out.push_str(&t.xml10_content()),
            Event::CData(t) => out.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(r) {
                    out.push_str(s);
                }
            }
            _ => {}
        }
    }

    /// An element's local name and its attributes (qualified name, raw value).
    type Element = (String, Vec<(String, String)>);

    /// A small part (workbook, relationships) read into memory through the budget.
    fn read_part<S: Read + Seek>(
        zip: &mut zip::ZipArchive<S>,
        name: &str,
        budget: &Budget,
        limits: &ReadLimits,
    ) -> Result<Option<Vec<Element>>, TabularError> {
        let Some(index) = zip.index_for_name(name) else {
            return Ok(None);
        };
        let entry = zip
            .by_index(index)
            .map_err(|e| TabularError::NotXlsx(format!("{name}：{e}")))?;
        let mut xml = xml_reader(budget.guard(entry), limits, &budget.slot);
        let mut buf = Vec::new();
        let mut elements = Vec::new();
        loop {
            match next_event(&mut xml, &mut buf) {
                Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                    let attrs = e
                        .attributes()
                        .flatten()
                        .map(|a| {
                            let key = a.key.as_ref().to_string();
                            (key, a.value.to_string())
                        })
                        .collect();
                    elements.push((e.local_name().as_ref().to_string(), attrs));
                    // Only the workbook's sheet list and the relationships are needed.
                    if elements.len() > 100_000 {
                        return Err(TabularError::NotXlsx(format!("{name} 中的元素过多")));
                    }
                }
                Ok(Event::Eof) => return Ok(Some(elements)),
                Ok(_) => {}
                Err(e) => return Err(budget.xml_error(name, e)),
            }
        }
    }

    /// `xl/…` for a relationship target (relative to `xl/`, or absolute from the root).
    fn part_name(target: &str) -> String {
        let target = target.replace('\\', "/");
        if let Some(abs) = target.strip_prefix('/') {
            return abs.to_string();
        }
        let mut parts: Vec<&str> = vec!["xl"];
        for seg in target.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    /// The first worksheet's part and the shared-string part, from the workbook and its
    /// relationships; `xl/worksheets/sheet1.xml` when they do not say.
    fn locate<S: Read + Seek>(
        zip: &mut zip::ZipArchive<S>,
        budget: &Budget,
        limits: &ReadLimits,
    ) -> Result<(String, Option<String>), TabularError> {
        let workbook = read_part(zip, "xl/workbook.xml", budget, limits)?.unwrap_or_default();
        let first_sheet_rid =
            workbook
                .iter()
                .find(|(name, _)| name == "sheet")
                .and_then(|(_, attrs)| {
                    attrs
                        .iter()
                        .find(|(k, _)| k.contains(':') && k.ends_with(":id"))
                        .map(|(_, v)| v.clone())
                });
        let rels =
            read_part(zip, "xl/_rels/workbook.xml.rels", budget, limits)?.unwrap_or_default();
        let get = |attrs: &Vec<(String, String)>, key: &str| {
            attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        };
        let mut sheet = None;
        let mut strings = None;
        for (name, attrs) in &rels {
            if name != "Relationship" {
                continue;
            }
            let target = get(attrs, "Target").map(|t| part_name(&t));
            if first_sheet_rid.is_some() && get(attrs, "Id") == first_sheet_rid {
                sheet = target.clone();
            }
            if get(attrs, "Type").is_some_and(|t| t.ends_with("/sharedStrings")) {
                strings = target;
            }
        }
        let sheet = sheet
            .filter(|s| zip.index_for_name(s).is_some())
            .unwrap_or_else(|| "xl/worksheets/sheet1.xml".to_string());
        if zip.index_for_name(&sheet).is_none() {
            return Err(TabularError::NotXlsx("找不到工作表".into()));
        }
        let strings = strings
            .or_else(|| Some("xl/sharedStrings.xml".to_string()))
            .filter(|s| zip.index_for_name(s).is_some());
        Ok((sheet, strings))
    }

    /// The shared-string table, stored in fixed-size chunks so that it never doubles a buffer
    /// (and never holds an old and a new copy at once) while a file is read: its memory stays
    /// close to what `shared_strings_bytes` counts even when several files are read together.
    /// Its size comes from what is read, never from the declared `count`/`uniqueCount`.
    #[derive(Default)]
    pub(super) struct SharedStrings {
        /// Text chunks of `TEXT_CHUNK` bytes' capacity; a string never spans two chunks and a
        /// chunk is never filled to the brim, so a position `chunk * TEXT_CHUNK + offset` names
        /// one chunk.
        text: Vec<String>,
        /// Each string's end as such a position, in chunks of `ENDS_CHUNK` entries.
        ends: Vec<Vec<u32>>,
        /// Where the string being read starts.
        start: u32,
        count: usize,
        text_bytes: u64,
    }

    const TEXT_CHUNK: usize = 4 << 20;
    const ENDS_CHUNK: usize = 1 << 20;

    impl SharedStrings {
        fn get(&self, i: usize) -> Option<&str> {
            if i >= self.count {
                return None;
            }
            let end = self.end(i) as usize;
            let chunk = end / TEXT_CHUNK;
            let start = match i.checked_sub(1).map(|p| self.end(p) as usize) {
                Some(prev) if prev / TEXT_CHUNK == chunk => prev,
                _ => chunk * TEXT_CHUNK,
            };
            self.text
                .get(chunk)?
                .get(start - chunk * TEXT_CHUNK..end - chunk * TEXT_CHUNK)
        }

        fn end(&self, i: usize) -> u32 {
            self.ends[i / ENDS_CHUNK][i % ENDS_CHUNK]
        }

        fn len(&self) -> usize {
            self.count
        }

        /// Bytes counted against the limit: the text plus 4 bytes per string.
        fn counted_bytes(&self) -> u64 {
            self.text_bytes + 4 * self.count as u64
        }

        /// Bytes of the string being read so far.
        fn current_len(&self) -> usize {
            match self.text.last() {
                Some(last) => {
                    self.text.len() * TEXT_CHUNK - TEXT_CHUNK + last.len() - self.start as usize
                }
                None => 0,
            }
        }

        fn begin(&mut self) {
            self.start = match self.text.last() {
                Some(last) => ((self.text.len() - 1) * TEXT_CHUNK + last.len()) as u32,
                None => 0,
            };
        }

        /// Appends to the string being read; `piece` is at most a record's bytes (1 MiB by
        /// default, always under a chunk), so the string moves to a fresh chunk when the current
        /// one cannot hold it.
        fn push(&mut self, piece: &str) {
            let so_far = self.current_len();
            let fits = self
                .text
                .last()
                .is_some_and(|last| last.len() + piece.len() < TEXT_CHUNK);
            if !fits {
                let mut chunk = String::with_capacity(TEXT_CHUNK.max(so_far + piece.len() + 1));
                if let Some(last) = self.text.last_mut() {
                    let from = last.len() - so_far;
                    chunk.push_str(&last[from..]);
                    last.truncate(from);
                }
                self.text.push(chunk);
                self.start = ((self.text.len() - 1) * TEXT_CHUNK) as u32;
            }
            self.text
                .last_mut()
                .expect("a chunk was just made")
                .push_str(piece);
            self.text_bytes += piece.len() as u64;
        }

        /// Ends the string being read (an empty `<si/>` is a string too).
        fn finish(&mut self) {
            let end = self.start as usize + self.current_len();
            if self.count.is_multiple_of(ENDS_CHUNK) {
                self.ends.push(Vec::with_capacity(ENDS_CHUNK));
            }
            self.ends
                .last_mut()
                .expect("a chunk was just made")
                .push(end as u32);
            self.count += 1;
            self.begin();
        }

        fn shrink(&mut self) {
            if let Some(last) = self.ends.last_mut() {
                last.shrink_to_fit();
            }
        }
    }

    fn read_shared_strings<R: Read>(
        part: R,
        budget: &Budget,
        limits: &ReadLimits,
    ) -> Result<SharedStrings, TabularError> {
        let mut xml = xml_reader(budget.guard(part), limits, &budget.slot);
        let mut buf = Vec::new();
        let mut out = SharedStrings::default();
        let max_count = limits.rows.saturating_mul(limits.columns as u64);
        let max_bytes = limits.shared_strings_bytes.min(u32::MAX as u64);
        // One string must fit in a chunk of the table.
        let max_string = limits.record_bytes.min(TEXT_CHUNK as u64 - 1);
        let too_long = |n: usize| {
            TabularError::SharedStrings(format!("第 {n} 个字符串超过 {}", size_text(max_string)))
        };
        let (mut in_si, mut in_t, mut phonetic) = (false, false, 0u32);
        let mut piece = String::new();
        loop {
            let event =
                next_event(&mut xml, &mut buf).map_err(|e| budget.xml_error("共享字符串表", e))?;
            match &event {
                Event::Start(e) => match e.local_name().as_ref() {
                    "si" => {
                        in_si = true;
                        out.begin();
                    }
                    "t" if in_si && phonetic == 0 => in_t = true,
                    "rPh" => phonetic += 1,
                    _ => {}
                },
                Event::Empty(e) if e.local_name().as_ref() == "si" => {
                    out.begin();
                    out.finish();
                }
                Event::End(e) => match e.local_name().as_ref() {
                    "si" if in_si => {
                        in_si = false;
                        out.finish();
                    }
                    "t" => in_t = false,
                    "rPh" => phonetic = phonetic.saturating_sub(1),
                    _ => {}
                },
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) if in_t => {
                    // Checked before the table grows.
                    piece.clear();
                    push_text(&mut piece, &event);
                    if (out.current_len() + piece.len()) as u64 > max_string {
                        return Err(too_long(out.len() + 1));
                    }
                    if out.counted_bytes() + piece.len() as u64 + 4 > max_bytes {
                        return Err(TabularError::SharedStrings(format!(
                            "超过 {}",
                            size_text(max_bytes)
                        )));
                    }
                    out.push(&piece);
                }
                Event::Eof => break,
                _ => {}
            }
            if out.len() as u64 > max_count {
                return Err(TabularError::SharedStrings(format!(
                    "超过 {max_count} 个字符串"
                )));
            }
            if out.counted_bytes() > max_bytes {
                return Err(TabularError::SharedStrings(format!(
                    "超过 {}",
                    size_text(max_bytes)
                )));
            }
        }
        out.shrink();
        Ok(out)
    }

    pub(super) fn open<S: Read + Seek + Send + 'static>(
        mut source: S,
        limits: &ReadLimits,
        clock: Clock,
    ) -> Result<Table, TabularError> {
        let slot: Refusal = Arc::new(Mutex::new(None));
        // The digest of the whole file, read once through the clock.
        let mut hasher = Sha256::new();
        {
            let mut guarded = Guarded {
                inner: &mut source,
                clock: clock.clone(),
                count: Arc::new(Mutex::new(0)),
                max: u64::MAX,
                slot: slot.clone(),
            };
            let mut chunk = vec![0u8; 256 * 1024];
            loop {
                match guarded.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&chunk[..n]),
                    Err(e) => return Err(take_refusal(&slot).unwrap_or(TabularError::Io(e))),
                }
            }
        }
        let digest = hex::encode(hasher.finalize());
        source.seek(SeekFrom::Start(0))?;
        let budget = Budget {
            used: Arc::new(Mutex::new(0)),
            max: limits.unzipped_bytes,
            clock: clock.clone(),
            slot: slot.clone(),
        };
        let mut zip =
            zip::ZipArchive::new(source).map_err(|e| TabularError::NotXlsx(e.to_string()))?;
        let (sheet_name, strings_name) = locate(&mut zip, &budget, limits)?;
        let strings = match strings_name {
            Some(name) => {
                let entry = zip
                    .by_name(&name)
                    .map_err(|e| TabularError::NotXlsx(format!("{name}：{e}")))?;
                read_shared_strings(entry, &budget, limits)?
            }
            None => SharedStrings::default(),
        };
        // The sheet is read after this function returns, so it gets a reader of its own over
        // the file rather than the archive's borrowed one.
        let (start, compressed, method) = {
            let entry = zip
                .by_name(&sheet_name)
                .map_err(|e| TabularError::NotXlsx(format!("{sheet_name}：{e}")))?;
            if entry.encrypted() {
                return Err(TabularError::NotXlsx(
                    "文件已加密，请取消密码保护后再上传".into(),
                ));
            }
            let start = entry
                .data_start()
                .ok_or_else(|| TabularError::NotXlsx(format!("{sheet_name}：找不到数据")))?;
            (start, entry.compressed_size(), entry.compression())
        };
        let mut file = zip.into_inner();
        file.seek(SeekFrom::Start(start))?;
        let raw = file.take(compressed);
        let part: Box<dyn Read + Send> = match method {
            zip::CompressionMethod::Stored => Box::new(raw),
            zip::CompressionMethod::Deflated => Box::new(flate2::read::DeflateDecoder::new(raw)),
            other => return Err(TabularError::NotXlsx(format!("不支持的压缩方式 {other:?}"))),
        };
        let xml = xml_reader(budget.guard(part), limits, &slot);
        let mut rows = SheetRows {
            xml,
            buf: Vec::new(),
            strings,
            budget,
            max_rows: limits.rows,
            max_columns: limits.columns,
            max_row_bytes: limits.record_bytes,
            last_row: 0,
            done: false,
        };
        let headers: Vec<String> = match rows.next_row() {
            Some(Ok(r)) => r.cells.iter().map(|h| h.trim().to_string()).collect(),
            Some(Err(e)) => return Err(e),
            None => return Err(TabularError::Empty),
        };
        let iter = std::iter::from_fn(move || {
            rows.budget.clock.resume();
            let r = rows.next_row();
            rows.budget.clock.pause();
            r
        });
        Ok(Table {
            headers,
            rows: Box::new(iter),
            sha256: Arc::new(Mutex::new(Some(digest))),
            encoding: "xlsx",
        })
    }

    struct SheetRows {
        xml: Xml<Guarded<Box<dyn Read + Send>>>,
        buf: Vec<u8>,
        strings: SharedStrings,
        budget: Budget,
        max_rows: u64,
        max_columns: usize,
        max_row_bytes: u64,
        last_row: u64,
        done: bool,
    }

    /// "XFD1048576" → (16384, Some(1048576)); saturating, so no reference overflows.
    fn parse_ref(r: &str) -> (usize, Option<u64>) {
        let mut col = 0usize;
        let mut digits = None::<u64>;
        for b in r.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' if digits.is_none() => {
                    col = col
                        .saturating_mul(26)
                        .saturating_add((b.to_ascii_uppercase() - b'A') as usize + 1);
                }
                b'0'..=b'9' => {
                    digits = Some(
                        digits
                            .unwrap_or(0)
                            .saturating_mul(10)
                            .saturating_add((b - b'0') as u64),
                    )
                }
                _ => break,
            }
        }
        (col, digits)
    }

    /// What a cell's `<v>` or inline text means, by its type `t`.
    fn cell_value(t: &str, raw: String, strings: &SharedStrings) -> Result<String, String> {
        match t {
            "s" => raw
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|i| strings.get(i))
                .map(|s| strip_apostrophe(s).to_string())
                .ok_or_else(|| {
                    format!(
                        "引用了不存在的共享字符串“{}”",
                        raw.chars().take(20).collect::<String>()
                    )
                }),
            "str" | "inlineStr" => Ok(strip_apostrophe(&raw).to_string()),
            "b" => Ok(match raw.trim() {
                "1" => "是".to_string(),
                "0" => "否".to_string(),
                _ => raw,
            }),
            "e" | "d" => Ok(raw),
            _ => match raw.trim().parse::<f64>() {
                Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => {
                    Ok(format!("{}", f as i64))
                }
                Ok(f) if f.is_finite() => Ok(format!("{f}")),
                _ => Ok(raw),
            },
        }
    }

    impl SheetRows {
        fn fail(&mut self, e: TabularError) -> Option<Result<TableRow, TabularError>> {
            self.done = true;
            Some(Err(e))
        }

        /// The next row with any text; blank rows and gaps in row numbers cost nothing.
        fn next_row(&mut self) -> Option<Result<TableRow, TabularError>> {
            let mut row: Option<(u64, Vec<String>, u64)> = None;
            // The open cell: column, type, text so far, whether inside <v> or inline <t>.
            let mut cell: Option<(usize, String, String)> = None;
            let mut last_col = 0usize;
            let (mut in_v, mut in_t, mut phonetic) = (false, false, 0u32);
            while !self.done {
                let event = match next_event(&mut self.xml, &mut self.buf) {
                    Ok(e) => e,
                    Err(e) => {
                        let e = self.budget.xml_error("工作表", e);
                        return self.fail(e);
                    }
                };
                match &event {
                    Event::Start(e) | Event::Empty(e) => {
                        let empty = matches!(event, Event::Empty(_));
                        match e.local_name().as_ref() {
                            "row" => {
                                let n = attr(e, "r", Some(false))
                                    .and_then(|r| r.trim().parse::<u64>().ok())
                                    .unwrap_or(self.last_row.saturating_add(1));
                                if n <= self.last_row {
                                    return self.fail(TabularError::NotXlsx(format!(
                                        "工作表第 {n} 行出现在第 {} 行之后",
                                        self.last_row
                                    )));
                                }
                                if n > self.max_rows {
                                    return self.fail(TabularError::TooManyRows {
                                        row: n,
                                        max: self.max_rows,
                                    });
                                }
                                self.last_row = n;
                                last_col = 0;
                                row = (!empty).then(|| (n, Vec::new(), 0));
                            }
                            "c" if row.is_some() => {
                                let (col, _) = attr(e, "r", Some(false))
                                    .map(|r| parse_ref(&r))
                                    .unwrap_or((last_col.saturating_add(1), None));
                                let col = col.max(1);
                                if col > self.max_columns {
                                    return self.fail(TabularError::TooManyColumns {
                                        row: self.last_row,
                                        column: column_letters(col.min(16_384 * 26)),
                                        max: self.max_columns,
                                    });
                                }
                                last_col = col;
                                let t = attr(e, "t", Some(false)).unwrap_or_default();
                                cell = (!empty).then(|| (col, t, String::new()));
                            }
                            "v" if cell.is_some() && !empty => in_v = true,
                            "t" if cell.is_some() && phonetic == 0 && !empty => in_t = true,
                            "rPh" if !empty => phonetic += 1,
                            _ => {}
                        }
                    }
                    Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) if in_v || in_t => {
                        if let (Some((_, _, text)), Some((line, _, bytes))) =
                            (cell.as_mut(), row.as_mut())
                        {
                            let before = text.len();
                            push_text(text, &event);
                            *bytes += (text.len() - before) as u64;
                            if *bytes > self.max_row_bytes {
                                let line = *line;
                                return self.fail(TabularError::RowTooLong {
                                    row: line,
                                    max: self.max_row_bytes,
                                });
                            }
                        }
                    }
                    Event::End(e) => match e.local_name().as_ref() {
                        "v" => in_v = false,
                        "t" => in_t = false,
                        "rPh" => phonetic = phonetic.saturating_sub(1),
                        "c" => {
                            if let (Some((col, t, text)), Some((line, cells, bytes))) =
                                (cell.take(), row.as_mut())
                            {
                                let value = match cell_value(&t, text, &self.strings) {
                                    Ok(v) => v,
                                    Err(m) => {
                                        let m =
                                            format!("第 {line} 行 {} 列{m}", column_letters(col));
                                        return self.fail(TabularError::NotXlsx(m));
                                    }
                                };
                                // A shared string counts when it lands in the row.
                                if t == "s" {
                                    *bytes += value.len() as u64;
                                    if *bytes > self.max_row_bytes {
                                        let line = *line;
                                        return self.fail(TabularError::RowTooLong {
                                            row: line,
                                            max: self.max_row_bytes,
                                        });
                                    }
                                }
                                if cells.len() < col {
                                    cells.resize(col, String::new());
                                }
                                cells[col - 1] = value;
                            }
                            in_v = false;
                            in_t = false;
                        }
                        "row" => {
                            if let Some((line, cells, _)) = row.take()
                                && cells.iter().any(|c| !c.trim().is_empty())
                            {
                                return Some(Ok(TableRow { line, cells }));
                            }
                        }
                        "sheetData" => self.done = true,
                        _ => {}
                    },
                    Event::Eof => self.done = true,
                    _ => {}
                }
            }
            take_refusal(&self.budget.slot).map(Err)
        }
    }
}

#[cfg(test)]
mod tests;
