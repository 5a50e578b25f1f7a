use super::*;
use std::io::Write;

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

/// Opens and reads to the end: the first error, if any.
fn read_all(
    name: &str,
    bytes: Vec<u8>,
    limits: &ReadLimits,
) -> Result<(Vec<String>, Vec<TableRow>), TabularError> {
    let t = open_bytes_with(name, bytes, limits)?;
    let headers = t.headers;
    let rows = t.rows.collect::<Result<Vec<_>, _>>()?;
    Ok((headers, rows))
}

/// A zip of the given parts, deflated.
pub(crate) fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in parts {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub(crate) const WORKBOOK: &[u8] = br#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
pub(crate) const RELS: &[u8] = br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

/// A workbook whose first sheet has these `<sheetData>` contents and these shared strings.
pub(crate) fn workbook(sheet_data: &str, shared: &str) -> Vec<u8> {
    let sheet = format!(
        r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{sheet_data}</sheetData></worksheet>"#
    );
    zip_of(&[
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", RELS),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/sharedStrings.xml", shared.as_bytes()),
    ])
}

const HEADER_ROW: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>户编号</t></is></c></row>"#;

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
fn a_quote_inside_an_unquoted_cell_does_not_swallow_the_next_lines() {
    // The CSV reader keeps a quote in the middle of a cell as a character; the record bound
    // must agree, or every later line would count as one long record.
    let mut text = String::from("a,b\n");
    text.push_str("5\"2,x\n");
    for i in 0..2000 {
        text.push_str(&format!("H{i},{}\n", "y".repeat(1000)));
    }
    let limits = ReadLimits {
        record_bytes: 4096,
        ..ReadLimits::default()
    };
    let (_, rows) = read_all("a.csv", text.into_bytes(), &limits).unwrap();
    assert_eq!(rows[0].cells, ["5\"2", "x"]);
    assert_eq!(rows.len(), 2001);
    let (_, rows) = read_all("a.csv", b"a,b\n\"x\"\"y\",1\n\"p\"q,2\n".to_vec(), &limits).unwrap();
    assert_eq!(rows[0].cells, ["x\"y", "1"]);
    assert_eq!(rows[1].line, 3);
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
    ws.write_number(3, 1, 0.5).unwrap();
    ws.write_boolean(4, 0, true).unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let (headers, rows, digest) = collect(open_bytes("a.xlsx", bytes.clone()).unwrap());
    assert_eq!(headers, ["户编号", "识别年度"]);
    assert_eq!(rows[0].cells, ["H1", "2014"]);
    assert_eq!(rows[1].line, 4);
    assert_eq!(rows[1].cells, ["H2", "0.5"]);
    assert_eq!(rows[2].cells, ["是"]);
    assert_eq!(digest.unwrap(), hex::encode(Sha256::digest(&bytes)));
}

#[test]
fn xlsx_in_constant_memory_mode_uses_inline_strings_and_reads_the_same() {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet_with_constant_memory().unwrap();
    ws.write_string(0, 0, "姓名").unwrap();
    ws.write_string(1, 0, "张 & 三 <x>").unwrap();
    let (headers, rows, _) = collect(open_bytes("a.xlsx", wb.save_to_buffer().unwrap()).unwrap());
    assert_eq!(headers, ["姓名"]);
    assert_eq!(rows[0].cells, ["张 & 三 <x>"]);
}

#[test]
fn shared_strings_rich_text_and_phonetic_runs() {
    let shared = r#"<sst count="3" uniqueCount="3"><si><t>户编号</t></si><si><r><t>张</t></r><r><t xml:space="preserve"> 三</t></r><rPh sb="0" eb="1"><t>ZHANG</t></rPh></si><si/></sst>"#;
    let data = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="s"><v>2</v></c></row>"#;
    let (headers, rows) =
        read_all("a.xlsx", workbook(data, shared), &ReadLimits::default()).unwrap();
    assert_eq!(headers, ["户编号"]);
    assert_eq!(rows[0].cells, ["张 三", ""]);
}

#[test]
fn a_shared_string_table_larger_than_one_chunk_reads_every_string_back() {
    // Over 4 MiB of text, so the table spans chunks; rich-text runs and empty strings land on
    // the chunk boundaries too.
    let n = 450_000usize;
    let mut shared = String::from("<sst>");
    for i in 0..n {
        match i % 3 {
            0 => shared.push_str(&format!("<si><t>第{i:08}号农户的家庭住址</t></si>")),
            1 => shared.push_str(&format!("<si><r><t>张{i}</t></r><r><t>之家</t></r></si>")),
            _ => shared.push_str("<si/>"),
        }
    }
    shared.push_str("</sst>");
    // Column B keeps rows whose string is empty from being skipped as blank.
    let mut data = String::from(
        r#"<row r="1"><c r="A1" t="inlineStr"><is><t>地址</t></is></c><c r="B1" t="inlineStr"><is><t>序号</t></is></c></row>"#,
    );
    for i in 0..n {
        let r = i + 2;
        data.push_str(&format!(
            r#"<row r="{r}"><c r="A{r}" t="s"><v>{i}</v></c><c r="B{r}"><v>{i}</v></c></row>"#
        ));
    }
    let (headers, rows) =
        read_all("a.xlsx", workbook(&data, &shared), &ReadLimits::default()).unwrap();
    assert_eq!(headers, ["地址", "序号"]);
    assert_eq!(rows.len(), n);
    for (i, row) in rows.iter().enumerate() {
        let want = match i % 3 {
            0 => format!("第{i:08}号农户的家庭住址"),
            1 => format!("张{i}之家"),
            _ => String::new(),
        };
        let got = row.cells.first().cloned().unwrap_or_default();
        assert_eq!(got, want, "string {i}");
    }
}

#[test]
fn a_huge_declared_unique_count_allocates_nothing() {
    // The reproduced attack: calamine preallocated from uniqueCount and aborted the process.
    let shared = r#"<sst count="100000000000000000" uniqueCount="100000000000000000"><si><t>户编号</t></si></sst>"#;
    let data = r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>H1</t></is></c></row>"#;
    let (headers, rows) =
        read_all("bomb.xlsx", workbook(data, shared), &ReadLimits::default()).unwrap();
    assert_eq!(headers, ["户编号"]);
    assert_eq!(rows[0].cells, ["H1"]);
}

#[test]
fn more_shared_strings_than_cells_a_sheet_can_hold_are_refused() {
    let shared = format!("<sst>{}</sst>", "<si><t>x</t></si>".repeat(30));
    let limits = ReadLimits {
        rows: 5,
        columns: 5,
        ..ReadLimits::default()
    };
    let e = read_all("a.xlsx", workbook(HEADER_ROW, &shared), &limits).unwrap_err();
    assert!(matches!(e, TabularError::SharedStrings(_)), "{e}");
    assert!(e.to_string().contains("超过 25 个字符串"), "{e}");
    let limits = ReadLimits {
        shared_strings_bytes: 100,
        ..ReadLimits::default()
    };
    let e = read_all("a.xlsx", workbook(HEADER_ROW, &shared), &limits).unwrap_err();
    assert!(e.to_string().contains("共享字符串表超出限制"), "{e}");
}

#[test]
fn the_last_cell_of_a_sheet_is_refused_by_name_without_building_a_grid() {
    // The reproduced attack: A1 and XFD1048576 made calamine build a dense grid past 1 GB.
    let data = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>户编号</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#;
    let start = Instant::now();
    let e = read_all("a.xlsx", workbook(data, "<sst/>"), &ReadLimits::default()).unwrap_err();
    assert_eq!(e.to_string(), "第 1048576 行 XFD 列超出限制：最多 256 列");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn rows_far_apart_cost_nothing_and_keep_their_numbers() {
    let data = format!(
        r#"{HEADER_ROW}<row r="1048576"><c r="IV1048576" t="inlineStr"><is><t>H9</t></is></c></row>"#
    );
    let (_, rows) = read_all("a.xlsx", workbook(&data, "<sst/>"), &ReadLimits::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 1_048_576);
    assert_eq!(rows[0].cells.len(), 256);
    assert_eq!(rows[0].cells[255], "H9");
    let limits = ReadLimits {
        rows: 1000,
        ..ReadLimits::default()
    };
    let e = read_all("a.xlsx", workbook(&data, "<sst/>"), &limits).unwrap_err();
    assert_eq!(e.to_string(), "第 1048576 行超出限制：最多 1000 行");
}

#[test]
fn rows_out_of_order_are_refused() {
    let data = format!(
        r#"{HEADER_ROW}<row r="5"><c r="A5"><v>1</v></c></row><row r="3"><c r="A3"><v>2</v></c></row>"#
    );
    let e = read_all("a.xlsx", workbook(&data, "<sst/>"), &ReadLimits::default()).unwrap_err();
    assert!(e.to_string().contains("第 3 行出现在第 5 行之后"), "{e}");
}

#[test]
fn cells_and_rows_without_references_follow_the_previous_ones() {
    let data = r#"<row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c></row><row><c><v>1</v></c><c t="b"><v>0</v></c></row>"#;
    let (headers, rows) =
        read_all("a.xlsx", workbook(data, "<sst/>"), &ReadLimits::default()).unwrap();
    assert_eq!(headers, ["a", "b"]);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].cells, ["1", "否"]);
}

#[test]
fn a_missing_shared_string_names_the_cell() {
    let data = r#"<row r="1"><c r="B1" t="s"><v>7</v></c></row>"#;
    let e = read_all(
        "a.xlsx",
        workbook(data, "<sst><si><t>x</t></si></sst>"),
        &ReadLimits::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("第 1 行 B 列引用了不存在的共享字符串"),
        "{e}"
    );
}

#[test]
fn a_zip_bomb_stops_at_the_unzipped_limit() {
    // 64 MiB of blank rows deflate to well under 1 MiB.
    let row = r#"<row><c r="A1"><v></v></c></row>"#;
    let mut sheet = String::from(r#"<worksheet><sheetData>"#);
    let body = row.repeat((64 << 20) / row.len());
    sheet.push_str(&body);
    sheet.push_str("</sheetData></worksheet>");
    let bytes = zip_of(&[
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", RELS),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ]);
    assert!(bytes.len() < 1 << 20, "the bomb is small: {}", bytes.len());
    let limits = ReadLimits {
        unzipped_bytes: 8 << 20,
        rows: u64::MAX,
        ..ReadLimits::default()
    };
    let e = read_all("bomb.xlsx", bytes, &limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "XLSX 文件解压后超过上限：最大 8 MiB（可能是压缩炸弹），已停止读取"
    );
    assert!(e.is_too_large());
}

#[test]
fn one_huge_xml_text_is_refused_before_it_is_buffered() {
    let data = format!(
        r#"{HEADER_ROW}<row r="2"><c r="A2" t="inlineStr"><is><t>{}</t></is></c></row>"#,
        "x".repeat(3 << 20)
    );
    let e = read_all("a.xlsx", workbook(&data, "<sst/>"), &ReadLimits::default()).unwrap_err();
    assert!(e.to_string().contains("超过 1 MiB 的单个元素或文本"), "{e}");
}

#[test]
fn many_small_texts_in_one_row_are_bounded_too() {
    // Entity references arrive as separate events: bound the row, not only each event.
    let data = format!(
        r#"{HEADER_ROW}<row r="2"><c r="A2" t="inlineStr"><is><t>{}</t></is></c></row>"#,
        "&amp;".repeat(300_000)
    );
    let limits = ReadLimits {
        record_bytes: 100_000,
        ..ReadLimits::default()
    };
    let e = read_all("a.xlsx", workbook(&data, "<sst/>"), &limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "第 2 行超出限制：一行最多 100000 字节，文件可能已损坏"
    );
}

#[test]
fn old_binary_excel_is_refused_with_advice() {
    let mut bytes = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    bytes.resize(4096, 0);
    let e = open_bytes("a.xls", bytes).err().unwrap();
    assert!(e.to_string().contains("另存为 .xlsx 或 CSV"), "{e}");
    let e = open_bytes("a.xls", b"a,b\n1,2\n".to_vec()).err().unwrap();
    assert!(matches!(e, TabularError::OldExcel));
}

#[test]
fn garbage_truncated_and_empty_workbooks_are_refused() {
    let good = workbook(HEADER_ROW, "<sst/>");
    for bytes in [
        good[..good.len() / 2].to_vec(),
        b"PK\x03\x04garbage".to_vec(),
        Vec::new(),
    ] {
        let r = read_all("a.xlsx", bytes, &ReadLimits::default());
        assert!(
            matches!(r, Err(TabularError::NotXlsx(_)) | Err(TabularError::Empty)),
            "{:?}",
            r.map(|_| ())
        );
    }
    let e = read_all("a.xlsx", workbook("", "<sst/>"), &ReadLimits::default()).unwrap_err();
    assert!(matches!(e, TabularError::Empty));
    let e = read_all("a.csv", Vec::new(), &ReadLimits::default()).unwrap_err();
    assert_eq!(e.to_string(), "文件是空的，没有表头行");
}

#[test]
fn a_million_columns_in_one_csv_line_are_refused() {
    let mut text = "a".to_string();
    text.push_str(&",".repeat(1_000_000));
    text.push('\n');
    let e = read_all("a.csv", text.into_bytes(), &ReadLimits::default()).unwrap_err();
    assert!(
        matches!(
            e,
            TabularError::TooManyColumns { .. } | TabularError::RowTooLong { .. }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("第 1 行"), "{e}");
}

#[test]
fn a_300_column_csv_is_refused_naming_the_first_column_too_many() {
    let header: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let e = read_all(
        "a.csv",
        format!("{}\n", header.join(",")).into_bytes(),
        &ReadLimits::default(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "第 1 行 IW 列超出限制：最多 256 列");
    let row: Vec<&str> = (0..300).map(|_| "x").collect();
    let e = read_all(
        "a.csv",
        format!("a,b\n1,2\n{}\n", row.join(",")).into_bytes(),
        &ReadLimits::default(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "第 3 行 IW 列超出限制：最多 256 列");
}

#[test]
fn a_long_csv_record_is_refused_before_it_is_buffered() {
    let limits = ReadLimits {
        record_bytes: 1000,
        ..ReadLimits::default()
    };
    let e = read_all(
        "a.csv",
        format!("a,b\n1,2\n3,{}\n", "x".repeat(5000)).into_bytes(),
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "第 3 行超出限制：一行最多 1000 字节，文件可能已损坏"
    );
    // An unclosed quote makes the rest of the file one cell.
    let e = read_all(
        "a.csv",
        format!("a,b\n\"{}\n", "x\n".repeat(5000)).into_bytes(),
        &limits,
    )
    .unwrap_err();
    assert!(matches!(e, TabularError::RowTooLong { row: 2, .. }), "{e}");
}

#[test]
fn csv_rows_past_the_limit_are_refused() {
    let limits = ReadLimits {
        rows: 3,
        ..ReadLimits::default()
    };
    let e = read_all("a.csv", b"a\n1\n2\n3\n".to_vec(), &limits).unwrap_err();
    assert_eq!(e.to_string(), "第 4 行超出限制：最多 3 行");
}

#[test]
fn nul_bytes_and_invalid_gbk_never_panic() {
    let (headers, rows) =
        read_all("a.csv", b"a,b\n\0\0,\0x\n".to_vec(), &ReadLimits::default()).unwrap();
    assert_eq!(headers, ["a", "b"]);
    assert_eq!(rows[0].cells, ["\0\0", "\0x"]);
    // 0x81 0x20 is not a GBK sequence: it reads as a replacement character.
    let mut bytes = encoding_rs::GBK.encode("户编号,姓名\nH1,").0.into_owned();
    bytes.extend_from_slice(&[0x81, 0x20, 0xFF, b'\n']);
    let (headers, rows) = read_all("a.csv", bytes, &ReadLimits::default()).unwrap();
    assert_eq!(headers, ["户编号", "姓名"]);
    assert!(rows[0].cells[1].contains('\u{fffd}'), "{:?}", rows[0].cells);
}

#[test]
fn a_leading_apostrophe_is_dropped_so_exports_reimport() {
    let (headers, rows) = read_all(
        "a.csv",
        b"'name,b\n'=1+1,'+86\n".to_vec(),
        &ReadLimits::default(),
    )
    .unwrap();
    assert_eq!(headers, ["name", "b"]);
    assert_eq!(rows[0].cells, ["=1+1", "+86"]);
    let data = format!(
        r#"{HEADER_ROW}<row r="2"><c r="A2" t="inlineStr"><is><t>'=1+1</t></is></c><c r="B2" t="s"><v>0</v></c></row>"#
    );
    let (_, rows) = read_all(
        "a.xlsx",
        workbook(&data, "<sst><si><t>'@x</t></si></sst>"),
        &ReadLimits::default(),
    )
    .unwrap();
    assert_eq!(rows[0].cells, ["=1+1", "@x"]);
}

#[test]
fn reading_stops_at_the_deadline() {
    let limits = ReadLimits {
        parse_time: Duration::ZERO,
        ..ReadLimits::default()
    };
    let e = read_all("a.csv", b"a\n1\n".to_vec(), &limits).unwrap_err();
    assert_eq!(e.to_string(), "读取文件超过 0 秒的时限，已停止");
    let e = read_all("a.xlsx", workbook(HEADER_ROW, "<sst/>"), &limits).unwrap_err();
    assert!(matches!(e, TabularError::TooSlow { .. }), "{e}");
}

#[test]
fn time_between_rows_is_not_reading_time() {
    let limits = ReadLimits {
        parse_time: Duration::from_millis(300),
        ..ReadLimits::default()
    };
    let t = open_bytes_with("a.csv", b"a\n1\n2\n".to_vec(), &limits).unwrap();
    let mut rows = t.rows;
    assert!(rows.next().unwrap().is_ok());
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        rows.next().unwrap().is_ok(),
        "the caller's pause does not count"
    );
}

#[test]
fn limits_come_from_the_environment_in_one_place() {
    let l = ReadLimits::from_lookup(|_| None).unwrap();
    assert_eq!(l, ReadLimits::default());
    assert_eq!(l.upload_bytes, 268_435_456);
    assert_eq!(
        (l.rows, l.columns, l.unzipped_bytes, l.parse_time.as_secs()),
        (1_048_576, 256, 2 << 30, 300)
    );
    let from = |name: &'static str, value: &'static str| {
        move |k: &str| (k == name).then(|| (value.to_string(), format!("环境变量 {k}")))
    };
    let l = ReadLimits::from_lookup(from("BANGFU_UPLOAD_MAX_BYTES", "1024")).unwrap();
    assert_eq!(l.upload_bytes, 1024);
    let e = ReadLimits::from_lookup(from("BANGFU_PARSE_SECONDS", "soon")).unwrap_err();
    assert!(
        e.contains("环境变量 BANGFU_PARSE_SECONDS 的值“soon”无效"),
        "{e}"
    );
}

mod fuzz {
    //! Hostile input never panics: every file opens or fails with a TabularError, and reading
    //! it to the end stays within the limits.

    use super::*;
    use proptest::prelude::*;

    fn small_limits() -> ReadLimits {
        ReadLimits {
            rows: 2000,
            columns: 64,
            unzipped_bytes: 4 << 20,
            shared_strings_bytes: 1 << 20,
            record_bytes: 64 << 10,
            ..ReadLimits::default()
        }
    }

    /// Reads everything; rows read stay within the row and column limits.
    fn survive(name: &str, bytes: Vec<u8>) {
        let limits = small_limits();
        if let Ok(t) = open_bytes_with(name, bytes, &limits) {
            assert!(t.headers.len() <= limits.columns);
            for r in t.rows {
                match r {
                    Ok(row) => {
                        assert!(
                            row.line <= limits.rows && row.cells.len() <= limits.columns,
                            "{} {}",
                            row.line,
                            row.cells.len()
                        );
                    }
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        break;
                    }
                }
            }
        }
    }

    fn cell_ref() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Z]{1,3}[0-9]{1,7}",
            Just("XFD1048576".to_string()),
            Just("A99999999999999999999999".to_string()),
            "[A-Za-z0-9]{0,6}",
        ]
    }

    fn sheet_xml() -> impl Strategy<Value = String> {
        let cell = (
            cell_ref(),
            prop_oneof![
                Just(""),
                Just("s"),
                Just("inlineStr"),
                Just("b"),
                Just("str"),
                Just("e")
            ],
            "[0-9a-z&;<>#. -]{0,12}",
        )
            .prop_map(|(r, t, v)| {
                format!(r#"<c r="{r}" t="{t}"><v>{v}</v><is><t>{v}</t></is></c>"#)
            });
        let row = ("[0-9]{0,8}", proptest::collection::vec(cell, 0..6))
            .prop_map(|(r, cells)| format!(r#"<row r="{r}">{}</row>"#, cells.concat()));
        proptest::collection::vec(row, 0..12).prop_map(|rows| rows.concat())
    }

    fn shared_xml() -> impl Strategy<Value = String> {
        (
            "[0-9]{1,25}",
            proptest::collection::vec("[a-z'=&;<>]{0,8}", 0..8),
        )
            .prop_map(|(count, items)| {
                let items: String = items
                    .iter()
                    .map(|s| format!("<si><t>{s}</t></si>"))
                    .collect();
                format!(r#"<sst count="{count}" uniqueCount="{count}">{items}</sst>"#)
            })
    }

    /// Flips, drops or inserts bytes.
    fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
        for &(at, b, op) in edits {
            if bytes.is_empty() {
                bytes.push(b);
                continue;
            }
            let at = at % bytes.len();
            match op % 3 {
                0 => bytes[at] = b,
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b),
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_as_csv(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            survive("a.csv", bytes);
        }

        #[test]
        fn csv_like_text(text in "[a-z0-9,\"\r\n'= \u{0}张]{0,400}") {
            survive("a.csv", text.into_bytes());
        }

        #[test]
        fn arbitrary_bytes_as_xlsx(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut b = b"PK\x03\x04".to_vec();
            b.extend(bytes);
            survive("a.xlsx", b);
        }

        #[test]
        fn generated_workbooks(data in sheet_xml(), shared in shared_xml()) {
            survive("a.xlsx", workbook(&data, &shared));
        }

        #[test]
        fn mutated_xml_in_a_valid_zip(data in sheet_xml(), shared in shared_xml(), edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
            let sheet = format!("<worksheet><sheetData>{data}</sheetData></worksheet>");
            let sheet = mutate(sheet.into_bytes(), &edits);
            let shared = mutate(shared.into_bytes(), &edits[..1]);
            let workbook = mutate(WORKBOOK.to_vec(), &edits[edits.len() - 1..]);
            survive("a.xlsx", zip_of(&[
                ("xl/workbook.xml", &workbook),
                ("xl/_rels/workbook.xml.rels", RELS),
                ("xl/worksheets/sheet1.xml", &sheet),
                ("xl/sharedStrings.xml", &shared),
            ]));
        }

        #[test]
        fn mutated_zip_containers(data in sheet_xml(), edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)) {
            survive("a.xlsx", mutate(workbook(&data, "<sst/>"), &edits));
        }
    }
}
