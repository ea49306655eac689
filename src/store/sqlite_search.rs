//! Search on SQLite: typed index tables written in the commit's savepoint, and the translation
//! of a [`StoreQuery`] into one SQL statement over `resource_current`.
//!
//! Every index row carries the `seq` of the version it belongs to (the current one), so an
//! update or delete drops the rows of the previous `seq` and a query filters
//! `resource_current.seq IN (SELECT seq FROM ix_… WHERE …)`, each sub-query served by an index
//! that starts with (partition, rtype, param) and the selective value. A composite entry's
//! components are rows of the typed tables under `{param}${i}`, tied together by `grp`.
//! `ix_present` holds one row per (resource, parameter) with its sort values: it answers
//! `:missing` and `_sort`.

use super::search_common::{
    self as common, composite_part_param, date_pred, number_pred, prefix_upper_bound, Field, Key,
    KeyKind, KeyOp, Op, RangePred,
};
use super::sqlite::row_to_version;
use super::{Match, Version};
use crate::fhir::search::geo;
use crate::fhir::search::params::ParamType;
use crate::fhir::search::query::{
    Cond, Prefix, SortKey, SortValue, StoreFilter, StoreQuery, StringMode, SystemMatch, UriMode,
};
use crate::fhir::search::values::normalize_string;
use crate::fhir::search::{IndexEntry, IndexValue};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

// Each table's value index ends with `seq`, so that enumerating or counting a criterion's
// matches reads the index alone. Its `(seq, param, value…)` index serves deleting a version's
// rows and checking one candidate's entries without reading the table (a search checks its
// non-driving criteria so). The value indexes of schema 1 lacked `seq`; they are replaced.
pub const SCHEMA: &str = "
CREATE INDEX IF NOT EXISTS current_by_seq ON resource_current (seq);
CREATE TABLE IF NOT EXISTS ix_string (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    norm TEXT NOT NULL, exact TEXT NOT NULL, seq INTEGER NOT NULL, grp INTEGER NOT NULL);
DROP INDEX IF EXISTS ix_string_norm;
CREATE INDEX IF NOT EXISTS ix_string_by_norm ON ix_string (partition, rtype, param, norm, seq);
CREATE INDEX IF NOT EXISTS ix_string_seq ON ix_string (seq, param, norm);
CREATE TABLE IF NOT EXISTS ix_token (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    code TEXT, system TEXT, text TEXT, seq INTEGER NOT NULL, grp INTEGER NOT NULL);
DROP INDEX IF EXISTS ix_token_code;
DROP INDEX IF EXISTS ix_token_system;
CREATE INDEX IF NOT EXISTS ix_token_by_code ON ix_token (partition, rtype, param, code, system, seq);
CREATE INDEX IF NOT EXISTS ix_token_by_system ON ix_token (partition, rtype, param, system, seq);
CREATE INDEX IF NOT EXISTS ix_token_seq ON ix_token (seq, param, code, system);
CREATE TABLE IF NOT EXISTS ix_date (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    low INTEGER NOT NULL, high INTEGER NOT NULL, seq INTEGER NOT NULL, grp INTEGER NOT NULL);
DROP INDEX IF EXISTS ix_date_low;
DROP INDEX IF EXISTS ix_date_high;
CREATE INDEX IF NOT EXISTS ix_date_by_low ON ix_date (partition, rtype, param, low, high, seq);
CREATE INDEX IF NOT EXISTS ix_date_by_high ON ix_date (partition, rtype, param, high, seq);
CREATE INDEX IF NOT EXISTS ix_date_seq ON ix_date (seq, param, low, high);
CREATE TABLE IF NOT EXISTS ix_number (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    value REAL NOT NULL, system TEXT, code TEXT, unit TEXT,
    seq INTEGER NOT NULL, grp INTEGER NOT NULL, low REAL, high REAL);
DROP INDEX IF EXISTS ix_number_value;
DROP INDEX IF EXISTS ix_number_by_value;
CREATE INDEX IF NOT EXISTS ix_number_by_low ON ix_number (partition, rtype, param, low, high, seq);
CREATE INDEX IF NOT EXISTS ix_number_by_high ON ix_number (partition, rtype, param, high, seq);
CREATE INDEX IF NOT EXISTS ix_number_seq ON ix_number (seq, param, low, high);
CREATE TABLE IF NOT EXISTS ix_position (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    lat REAL NOT NULL, lng REAL NOT NULL, x REAL NOT NULL, y REAL NOT NULL, z REAL NOT NULL,
    seq INTEGER NOT NULL, grp INTEGER NOT NULL);
DROP INDEX IF EXISTS ix_position_by_lat;
CREATE INDEX IF NOT EXISTS ix_position_by_band
    ON ix_position (partition, rtype, param, lat, x, y, z, seq);
CREATE INDEX IF NOT EXISTS ix_position_seq ON ix_position (seq, param, lat);
CREATE TABLE IF NOT EXISTS ix_reference (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    tid TEXT, ttype TEXT, url TEXT NOT NULL, version TEXT,
    seq INTEGER NOT NULL, grp INTEGER NOT NULL);
DROP INDEX IF EXISTS ix_reference_id;
DROP INDEX IF EXISTS ix_reference_url;
CREATE INDEX IF NOT EXISTS ix_reference_by_id ON ix_reference (partition, rtype, param, tid, ttype, seq);
CREATE INDEX IF NOT EXISTS ix_reference_by_url ON ix_reference (partition, rtype, param, url, seq);
CREATE INDEX IF NOT EXISTS ix_reference_seq ON ix_reference (seq, param, tid, ttype);
CREATE TABLE IF NOT EXISTS ix_uri (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL,
    value TEXT NOT NULL, seq INTEGER NOT NULL, grp INTEGER NOT NULL);
DROP INDEX IF EXISTS ix_uri_value;
CREATE INDEX IF NOT EXISTS ix_uri_by_value ON ix_uri (partition, rtype, param, value, seq);
CREATE INDEX IF NOT EXISTS ix_uri_seq ON ix_uri (seq, param, value);
CREATE TABLE IF NOT EXISTS ix_pair (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, patient TEXT NOT NULL,
    code TEXT NOT NULL, system TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (partition, rtype, patient, code, system, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_pair_seq ON ix_pair (seq);
CREATE TABLE IF NOT EXISTS ix_pair_overflow (
    partition TEXT NOT NULL, rtype TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (partition, rtype, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_pair_overflow_seq ON ix_pair_overflow (seq);
CREATE TABLE IF NOT EXISTS ix_present (
    seq INTEGER NOT NULL, param TEXT NOT NULL,
    partition TEXT NOT NULL, rtype TEXT NOT NULL,
    a ANY, d ANY,
    PRIMARY KEY (seq, param)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_present_param ON ix_present (partition, rtype, param);
CREATE INDEX IF NOT EXISTS ix_present_window
    ON ix_present (partition, rtype, param, length(d - a), a, d) WHERE typeof(a) = 'integer';
";

/// Brings a store written by an earlier schema up to this one: runs [`SCHEMA`] and fills
/// what an older store lacks.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    migrate_number_intervals(conn)?;
    let table_exists = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )
    };
    // Pairs of the first layout (one row per token parameter) are rebuilt in this one.
    let old_pairs: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('ix_pair') WHERE name = 'param'",
        [],
        |r| r.get(0),
    )?;
    if old_pairs {
        conn.execute_batch("DROP TABLE ix_pair; DROP TABLE IF EXISTS ix_pair_overflow;")?;
    }
    let fill_pairs = table_exists("ix_token")? && !table_exists("ix_pair")?;
    conn.execute_batch(SCHEMA)?;
    if fill_pairs {
        fill_pairs_from_entries(conn)?;
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < TEXT_SORT_VALUES_AS_BLOBS {
        text_sort_values_as_blobs(conn)?;
    }
    Ok(())
}

/// `PRAGMA user_version` from which text sort values are BLOBs (see [`sort_value_sql`]).
const TEXT_SORT_VALUES_AS_BLOBS: i64 = 1;

/// Rewrites the sort values of text parameters written before they were BLOBs, from the rows
/// of the typed tables they were taken from (text columns, which kept numeric-looking text).
fn text_sort_values_as_blobs(conn: &Connection) -> rusqlite::Result<()> {
    let mut sql = String::from("BEGIN;");
    for (table, column) in [
        ("ix_token", "code"),
        ("ix_string", "norm"),
        ("ix_reference", "url"),
        ("ix_uri", "value"),
    ] {
        let of = |f: &str| {
            format!(
                "(SELECT CAST({f}({column}) AS BLOB) FROM {table} t \
                 WHERE t.seq = ix_present.seq AND t.param = ix_present.param)"
            )
        };
        sql.push_str(&format!(
            "UPDATE ix_present SET a = {}, d = {} WHERE a IS NOT NULL AND EXISTS \
             (SELECT 1 FROM {table} t WHERE t.seq = ix_present.seq AND t.param = ix_present.param);",
            of("min"),
            of("max")
        ));
    }
    sql.push_str(&format!(
        "PRAGMA user_version = {TEXT_SORT_VALUES_AS_BLOBS}; COMMIT;"
    ));
    conn.execute_batch(&sql)
}

/// Patient + code pairs for a store written before they existed, from its reference and
/// token rows (the same rows [`write_pairs`] derives from a version's entries).
fn fill_pairs_from_entries(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "BEGIN;
         CREATE TEMP TABLE patients AS
           SELECT DISTINCT seq, tid FROM ix_reference WHERE ttype = 'Patient' AND tid IS NOT NULL AND grp = 0;
         CREATE INDEX temp.patients_seq ON patients (seq);
         INSERT INTO ix_pair_overflow (partition, rtype, seq)
           SELECT c.partition, c.rtype, c.seq FROM resource_current c
           WHERE c.seq IN (SELECT seq FROM patients GROUP BY seq HAVING count(*) > {MAX_PAIRED_PATIENTS});
         INSERT OR IGNORE INTO ix_pair (partition, rtype, patient, code, system, seq)
           SELECT t.partition, t.rtype, p.tid, t.code, coalesce(t.system, ''), t.seq
           FROM patients p JOIN ix_token t ON t.seq = p.seq
           WHERE t.grp = 0 AND t.code IS NOT NULL
             AND p.seq NOT IN (SELECT seq FROM ix_pair_overflow);
         DROP TABLE temp.patients;
         COMMIT;"
    ))
}

/// Number entries gained the interval they cover (`low`, `high`). Earlier rows were single
/// values (a Range was stored as its midpoint: `$reindex` gives it its bounds).
fn migrate_number_intervals(conn: &Connection) -> rusqlite::Result<()> {
    let has_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'ix_number'",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(());
    }
    let has_low: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('ix_number') WHERE name = 'low'",
        [],
        |r| r.get(0),
    )?;
    if !has_low {
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE ix_number ADD COLUMN low REAL;
             ALTER TABLE ix_number ADD COLUMN high REAL;
             UPDATE ix_number SET low = value, high = value;
             DROP INDEX IF EXISTS ix_number_seq;
             COMMIT;",
        )?;
    }
    Ok(())
}

const TABLES: [&str; 10] = [
    "ix_string",
    "ix_token",
    "ix_date",
    "ix_number",
    "ix_position",
    "ix_reference",
    "ix_uri",
    "ix_present",
    "ix_pair",
    "ix_pair_overflow",
];

/// Drops every index row of a version that stops being current.
pub fn delete_entries(tx: &Connection, seq: i64) -> rusqlite::Result<()> {
    for t in TABLES {
        tx.prepare_cached(&format!("DELETE FROM {t} WHERE seq = ?1"))?
            .execute([seq])?;
    }
    Ok(())
}

fn opt(s: &Option<String>) -> Value {
    match s {
        Some(s) => Value::Text(s.clone()),
        None => Value::Null,
    }
}

/// A sort value as `ix_present` stores it. Text goes in as a BLOB: the column (declared
/// `ANY` in a table that is not STRICT) has numeric affinity, which turned text that looks
/// like a number (a code `429858000`, a version `2.1`) into a number, sorted before all
/// text and unlike MongoDB. A BLOB is stored as given and compares byte by byte after every
/// number, as [`common::compare_values`] orders text.
fn sort_value_sql(v: &SortValue) -> Value {
    match v {
        SortValue::Null => Value::Null,
        SortValue::Int(i) => Value::Integer(*i),
        SortValue::Float(f) => Value::Real(*f),
        SortValue::Text(s) => Value::Blob(s.as_bytes().to_vec()),
    }
}

fn sort_value_of(v: Value) -> SortValue {
    match v {
        Value::Integer(i) => SortValue::Int(i),
        Value::Real(f) => SortValue::Float(f),
        Value::Text(s) => SortValue::Text(s),
        Value::Blob(b) => SortValue::Text(String::from_utf8_lossy(&b).into_owned()),
        Value::Null => SortValue::Null,
    }
}

/// A key's value in a keyset condition: a parameter's as `ix_present` stores it, a type's
/// or id's as the text columns hold them.
fn key_value_sql(k: &Key, v: &SortValue) -> Value {
    match (&k.kind, v) {
        (KeyKind::Param { .. }, _) => sort_value_sql(v),
        (_, SortValue::Text(s)) => Value::Text(s.clone()),
        _ => sort_value_sql(v),
    }
}

/// Writes the index rows of the version stored at `seq`.
pub fn write_entries(
    tx: &Connection,
    partition: &str,
    rtype: &str,
    seq: i64,
    entries: &[IndexEntry],
) -> rusqlite::Result<()> {
    let mut grp = 0i64;
    for e in entries {
        match &e.value {
            IndexValue::Composite(parts) => {
                grp += 1;
                for (i, part) in parts.iter().enumerate() {
                    let p = composite_part_param(&e.param, i);
                    write_value(tx, partition, rtype, &p, part, seq, grp)?;
                }
            }
            v => write_value(tx, partition, rtype, &e.param, v, seq, 0)?,
        }
    }
    write_pairs(tx, partition, rtype, seq, entries)?;
    let mut present = tx.prepare_cached(
        "INSERT INTO ix_present (seq, param, partition, rtype, a, d) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (param, a, d) in common::param_sort_values(entries) {
        present.execute(params![
            seq,
            param,
            partition,
            rtype,
            sort_value_sql(&a),
            sort_value_sql(&d)
        ])?;
    }
    Ok(())
}

/// A resource referring to more patients than this gets no pair rows but one
/// `ix_pair_overflow` row: pairs multiply, and such resources (Groups, Lists) are rarely
/// searched by patient and code.
const MAX_PAIRED_PATIENTS: usize = 4;

/// Patient + code pairs (`ix_pair`): one row per Patient the version refers to (through any
/// reference parameter) and coded token value (whatever its parameter: `code` and
/// `combo-code` share their rows; no system is ''), so that a search naming a patient and a
/// code (`Observation?patient=X&code=Y`, what SMART apps send most) starts from one index
/// range instead of all of the patient's resources or every patient's resources with the
/// code. The rows only drive: the search still checks both criteria on each candidate.
fn write_pairs(
    tx: &Connection,
    partition: &str,
    rtype: &str,
    seq: i64,
    entries: &[IndexEntry],
) -> rusqlite::Result<()> {
    let mut patients: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.value {
            IndexValue::Reference {
                target_type: Some(t),
                id: Some(id),
                ..
            } if t == "Patient" => Some(id.as_str()),
            _ => None,
        })
        .collect();
    patients.sort_unstable();
    patients.dedup();
    if patients.is_empty() {
        return Ok(());
    }
    if patients.len() > MAX_PAIRED_PATIENTS {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO ix_pair_overflow (partition, rtype, seq) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![partition, rtype, seq])?;
        return Ok(());
    }
    let mut tokens: Vec<(&str, &str)> = entries
        .iter()
        .filter_map(|e| match &e.value {
            IndexValue::Token {
                code: Some(code),
                system,
                ..
            } => Some((code.as_str(), system.as_deref().unwrap_or_default())),
            _ => None,
        })
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    let mut insert = tx.prepare_cached(
        "INSERT INTO ix_pair (partition, rtype, patient, code, system, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for patient in &patients {
        for (code, system) in &tokens {
            insert.execute(params![partition, rtype, patient, code, system, seq])?;
        }
    }
    Ok(())
}

fn write_value(
    tx: &Connection,
    partition: &str,
    rtype: &str,
    param: &str,
    v: &IndexValue,
    seq: i64,
    grp: i64,
) -> rusqlite::Result<()> {
    match v {
        IndexValue::String { norm, exact } => tx
            .prepare_cached(
                "INSERT INTO ix_string (partition, rtype, param, norm, exact, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![partition, rtype, param, norm, exact, seq, grp])?,
        IndexValue::Token { system, code, text } => tx
            .prepare_cached(
                "INSERT INTO ix_token (partition, rtype, param, code, system, text, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                partition,
                rtype,
                param,
                opt(code),
                opt(system),
                opt(text),
                seq,
                grp
            ])?,
        IndexValue::Date { low, high } => tx
            .prepare_cached(
                "INSERT INTO ix_date (partition, rtype, param, low, high, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![partition, rtype, param, low, high, seq, grp])?,
        IndexValue::Number { value, low, high } => tx
            .prepare_cached(
                "INSERT INTO ix_number (partition, rtype, param, value, low, high, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![partition, rtype, param, value, low, high, seq, grp])?,
        IndexValue::Quantity {
            value,
            low,
            high,
            system,
            code,
            unit,
        } => tx
            .prepare_cached(
                "INSERT INTO ix_number (partition, rtype, param, value, low, high, system, code, unit, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                partition,
                rtype,
                param,
                value,
                low,
                high,
                opt(system),
                opt(code),
                opt(unit),
                seq,
                grp
            ])?,
        IndexValue::Position { lat, lng } => {
            let [x, y, z] = geo::unit_vector(*lat, *lng);
            tx.prepare_cached(
                "INSERT INTO ix_position (partition, rtype, param, lat, lng, x, y, z, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![partition, rtype, param, lat, lng, x, y, z, seq, grp])?
        }
        IndexValue::Reference {
            target_type,
            id,
            url,
            version,
        } => tx
            .prepare_cached(
                "INSERT INTO ix_reference (partition, rtype, param, tid, ttype, url, version, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                partition,
                rtype,
                param,
                opt(id),
                opt(target_type),
                url,
                opt(version),
                seq,
                grp
            ])?,
        IndexValue::Uri { value } => tx
            .prepare_cached(
                "INSERT INTO ix_uri (partition, rtype, param, value, seq, grp)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![partition, rtype, param, value, seq, grp])?,
        // Composites do not nest in R4.
        IndexValue::Composite(_) => 0,
    };
    Ok(())
}

/// SQL text with its positional parameters, in text order.
#[derive(Default, Clone)]
struct Sql {
    text: String,
    params: Vec<Value>,
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.text.push('?');
        self.params.push(v.into());
        self
    }

    fn bind_list<I: IntoIterator<Item = V>, V: Into<Value>>(&mut self, vs: I) -> &mut Self {
        let mut first = true;
        for v in vs {
            if !first {
                self.text.push_str(", ");
            }
            first = false;
            self.bind(v);
        }
        self
    }

    /// `expr IN (…)`; long lists (ids from a chain or `_has`) go as one JSON parameter, since
    /// SQLite limits the number of parameters of a statement.
    fn in_list(&mut self, expr: &str, values: &[String]) -> &mut Self {
        if values.is_empty() {
            return self.push("0");
        }
        self.push(&format!("{expr} IN ("));
        if values.len() <= 64 {
            self.bind_list(values.iter().cloned());
        } else {
            let json = serde_json::Value::from(values.to_vec()).to_string();
            self.push("SELECT value FROM json_each(")
                .bind(json)
                .push(")");
        }
        self.push(")")
    }

    fn append(&mut self, other: Sql) {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
    }

    /// `parts` joined by `op` (` AND `, ` OR `) and parenthesised as a balanced tree: SQLite
    /// parses a chain of n operators n levels deep and refuses expressions deeper than 1,000
    /// (a search may OR or AND up to `MAX_SEARCH_VALUES` values).
    fn balanced(mut parts: Vec<Sql>, op: &str) -> Sql {
        if parts.len() <= 1 {
            return parts.pop().unwrap_or_default();
        }
        let right = parts.split_off(parts.len() / 2);
        let mut sql = Sql::default();
        sql.push("(");
        sql.append(Sql::balanced(parts, op));
        sql.push(op);
        sql.append(Sql::balanced(right, op));
        sql.push(")");
        sql
    }

    /// Index sub-queries (each selecting one `seq` column) as one `UNION ALL`. SQLite refuses
    /// a compound SELECT of more than 500 terms, so a longer union is a union of nested ones.
    fn union_all(parts: Vec<Sql>) -> Sql {
        const TERMS: usize = 400;
        let mut sql = Sql::default();
        if parts.len() <= TERMS {
            for (i, p) in parts.into_iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.append(p);
            }
            return sql;
        }
        let mut nested = Vec::new();
        let mut parts = parts.into_iter().peekable();
        while parts.peek().is_some() {
            let mut chunk = Sql::default();
            chunk.push("SELECT seq FROM (");
            chunk.append(Sql::union_all(parts.by_ref().take(TERMS).collect()));
            chunk.push(")");
            nested.push(chunk);
        }
        Sql::union_all(nested)
    }
}

struct Ctx<'a> {
    partition: &'a str,
    types: &'a [String],
    now: i64,
}

impl Ctx<'_> {
    /// The leading, index-served part of a sub-query on an index table.
    fn scope(&self, sql: &mut Sql, alias: &str, param: &str) {
        // A long type list (a system-level search of a partition holding many types) goes in
        // as one JSON value: the scope is repeated in every sub-query of the statement, and
        // SQLite takes at most 32,766 variables per statement.
        sql.push(&format!("{alias}.partition = "))
            .bind(self.partition.to_string())
            .push(" AND ")
            .in_list(&format!("{alias}.rtype"), self.types)
            .push(&format!(" AND {alias}.param = "))
            .bind(param.to_string());
    }
}

fn range_sql<T: Copy + Into<Value>>(
    sql: &mut Sql,
    pred: &RangePred<T>,
    col: impl Fn(Field) -> String,
) {
    if pred.is_empty() {
        sql.push("0");
        return;
    }
    sql.push("(");
    for (i, conj) in pred.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(1");
        for bd in conj {
            let op = match bd.op {
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
            };
            sql.push(&format!(" AND {} {op} ", col(bd.field)))
                .bind(bd.value);
        }
        sql.push(")");
    }
    sql.push(")");
}

/// Appends ` AND …` tests of one entry row `a` for `cond`, and names the table it lives in;
/// `None` for conditions that are not about one entry.
fn entry_test(cond: &Cond, a: &str, ctx: &Ctx<'_>, sql: &mut Sql) -> Option<&'static str> {
    Some(match cond {
        Cond::String { mode, value, .. } => {
            match mode {
                StringMode::StartsWith => {
                    sql.push(&format!(" AND {a}.norm >= "))
                        .bind(value.clone())
                        .push(&format!(" AND {a}.norm < "))
                        .bind(prefix_upper_bound(value));
                }
                StringMode::Contains => {
                    sql.push(&format!(" AND instr({a}.norm, "))
                        .bind(value.clone())
                        .push(") > 0");
                }
                StringMode::Equals => {
                    sql.push(&format!(" AND {a}.norm = ")).bind(value.clone());
                }
                StringMode::Exact => {
                    sql.push(&format!(" AND {a}.norm = "))
                        .bind(normalize_string(value))
                        .push(&format!(" AND {a}.exact = "))
                        .bind(value.clone());
                }
            }
            "ix_string"
        }
        Cond::Token { system, code, .. } => {
            if let Some(c) = code {
                sql.push(&format!(" AND {a}.code = ")).bind(c.clone());
            }
            match system {
                SystemMatch::Any => {}
                SystemMatch::None => {
                    sql.push(&format!(" AND {a}.system IS NULL"));
                }
                SystemMatch::Is(s) => {
                    sql.push(&format!(" AND {a}.system = ")).bind(s.clone());
                }
            }
            "ix_token"
        }
        Cond::TokenIn { codes, .. } => {
            grouped_keys_test(sql, a, "code", "system", codes.clone());
            "ix_token"
        }
        Cond::TokenText { text, .. } => {
            sql.push(&format!(" AND {a}.text >= "))
                .bind(text.clone())
                .push(&format!(" AND {a}.text < "))
                .bind(prefix_upper_bound(text));
            "ix_token"
        }
        Cond::Date {
            prefix, low, high, ..
        } => {
            sql.push(" AND ");
            range_sql(sql, &date_pred(*prefix, *low, *high, ctx.now), |f| {
                format!("{a}.{}", if f == Field::High { "high" } else { "low" })
            });
            "ix_date"
        }
        Cond::Number {
            prefix,
            value,
            low,
            high,
            ..
        } => {
            sql.push(" AND ");
            range_sql(sql, &number_pred(*prefix, *value, *low, *high), |f| {
                format!("{a}.{}", if f == Field::High { "high" } else { "low" })
            });
            "ix_number"
        }
        Cond::Quantity {
            prefix,
            value,
            low,
            high,
            system,
            code,
            ..
        } => {
            sql.push(" AND ");
            range_sql(sql, &number_pred(*prefix, *value, *low, *high), |f| {
                format!("{a}.{}", if f == Field::High { "high" } else { "low" })
            });
            if let Some(s) = system {
                sql.push(&format!(" AND {a}.system = ")).bind(s.clone());
            }
            match (code, system) {
                (Some(c), Some(_)) => {
                    sql.push(&format!(" AND {a}.code = ")).bind(c.clone());
                }
                (Some(c), None) => {
                    sql.push(&format!(" AND ({a}.code = "))
                        .bind(c.clone())
                        .push(&format!(" OR {a}.unit = "))
                        .bind(c.clone())
                        .push(")");
                }
                (None, _) => {}
            }
            "ix_number"
        }
        Cond::Near { lat, lng, km, .. } => {
            // The band is what the index serves; the squared chord decides (`geo`).
            let cap = geo::Cap::new(*lat, *lng, *km);
            sql.push(&format!(" AND {a}.lat >= "))
                .bind(cap.lat_low)
                .push(&format!(" AND {a}.lat <= "))
                .bind(cap.lat_high)
                .push(" AND (0");
            for (field, c) in ["x", "y", "z"].into_iter().zip(cap.centre) {
                sql.push(&format!(" + ({a}.{field} - "))
                    .bind(c)
                    .push(&format!(") * ({a}.{field} - "))
                    .bind(c)
                    .push(")");
            }
            sql.push(") <= ").bind(cap.max_chord2);
            "ix_position"
        }
        Cond::Reference {
            target_type,
            id,
            url,
            version,
            ..
        } => {
            if let Some(id) = id {
                sql.push(&format!(" AND {a}.tid = ")).bind(id.clone());
                if let Some(t) = target_type {
                    sql.push(&format!(" AND {a}.ttype = ")).bind(t.clone());
                }
            }
            if let Some(u) = url {
                sql.push(&format!(" AND {a}.url = ")).bind(u.clone());
            }
            if let Some(v) = version {
                sql.push(&format!(" AND {a}.version = ")).bind(v.clone());
            }
            if id.is_none() && url.is_none() {
                sql.push(" AND 0");
            }
            "ix_reference"
        }
        Cond::ReferenceIn { targets, .. } => {
            grouped_keys_test(sql, a, "tid", "ttype", common::ids_by_type(targets));
            "ix_reference"
        }
        Cond::Uri { mode, value, .. } => {
            match mode {
                UriMode::Equals => {
                    sql.push(&format!(" AND {a}.value = ")).bind(value.clone());
                }
                UriMode::Below => {
                    sql.push(&format!(" AND {a}.value >= "))
                        .bind(value.clone())
                        .push(&format!(" AND {a}.value < "))
                        .bind(prefix_upper_bound(value));
                }
                UriMode::Above => {
                    sql.push(&format!(" AND {a}.value IN ("))
                        .bind_list(common::uri_above_candidates(value))
                        .push(")");
                }
            }
            "ix_uri"
        }
        Cond::Id(_)
        | Cond::LastUpdated { .. }
        | Cond::Composite { .. }
        | Cond::Missing { .. }
        | Cond::IdIn(_) => return None,
    })
}

/// What a search's cost depends on besides its values: its types, each filter's parameters
/// and kinds of condition, its sort, whether it continues from a cursor, and its page size.
/// Searches of one shape usually take about as long as each other.
pub fn shape(query: &StoreQuery) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    query.resource_types.hash(&mut h);
    for f in &query.filters {
        f.negate.hash(&mut h);
        f.any.len().min(8).hash(&mut h);
        for c in &f.any {
            std::mem::discriminant(c).hash(&mut h);
            c.param().hash(&mut h);
            if let Cond::Date { prefix, .. } | Cond::Number { prefix, .. } = c {
                prefix.hash(&mut h);
            }
        }
    }
    for s in &query.sort {
        std::mem::discriminant(&s.key).hash(&mut h);
        if let SortKey::Param { param, .. } = &s.key {
            param.hash(&mut h);
        }
        s.descending.hash(&mut h);
    }
    query.after.is_some().hash(&mut h);
    query.limit.hash(&mut h);
    h.finish()
}

/// A boolean SQL expression on `c` (resource_current) and `h` (its history row).
fn cond_sql(cond: &Cond, ctx: &Ctx<'_>, sql: &mut Sql) {
    match cond {
        Cond::Id(ids) => {
            sql.in_list("c.id", ids);
        }
        Cond::IdIn(pairs) => {
            let groups = common::ids_by_type(pairs);
            sql.push(if groups.is_empty() { "(0" } else { "(" });
            for (i, (t, ids)) in groups.into_iter().enumerate() {
                sql.push(if i > 0 {
                    " OR (c.rtype = "
                } else {
                    "(c.rtype = "
                })
                .bind(t)
                .push(" AND ");
                sql.in_list("c.id", &ids).push(")");
            }
            sql.push(")");
        }
        Cond::LastUpdated { prefix, low, high } => {
            // Served by history_by_type_time; earlier versions' seqs are never current.
            sql.push("c.seq IN (SELECT x.seq FROM resource_history x WHERE x.partition = ")
                .bind(ctx.partition.to_string())
                .push(" AND x.rtype IN (")
                .bind_list(ctx.types.iter().cloned())
                .push(") AND ");
            last_updated_test(sql, *prefix, *low, *high, ctx);
            sql.push(")");
        }
        Cond::Missing { param, missing, .. } => {
            if *missing {
                sql.push(
                    "NOT EXISTS (SELECT 1 FROM ix_present m WHERE m.seq = c.seq AND m.param = ",
                )
                .bind(param.clone())
                .push(")");
            } else {
                sql.push("c.seq IN (SELECT m.seq FROM ix_present m WHERE ");
                ctx.scope(sql, "m", param);
                sql.push(")");
            }
        }
        Cond::ReferenceIn { param, targets } => {
            keys_in(
                sql,
                ctx,
                "ix_reference",
                param,
                "tid",
                "ttype",
                common::ids_by_type(targets),
            );
        }
        Cond::TokenIn { param, codes } => {
            keys_in(sql, ctx, "ix_token", param, "code", "system", codes.clone());
        }
        Cond::Composite { param, parts } => {
            let mut from = Sql::default();
            let mut tests = Sql::default();
            for (i, part) in parts.iter().enumerate() {
                let alias = format!("p{i}");
                let part_param = composite_part_param(param, part_index(part, i));
                let mut t = Sql::default();
                let Some(table) = entry_test(part, &alias, ctx, &mut t) else {
                    sql.push("0");
                    return;
                };
                if i == 0 {
                    from.push(&format!("{table} {alias}"));
                    tests.push(" WHERE ");
                    ctx.scope(&mut tests, &alias, &part_param);
                } else {
                    from.push(&format!(
                        " JOIN {table} {alias} ON {alias}.seq = p0.seq AND {alias}.grp = p0.grp AND {alias}.param = "
                    ))
                    .bind(part_param);
                }
                tests.append(t);
            }
            if parts.is_empty() {
                sql.push("0");
                return;
            }
            sql.push("c.seq IN (SELECT p0.seq FROM ");
            sql.append(from);
            sql.append(tests);
            sql.push(")");
        }
        _ => {
            let mut t = Sql::default();
            let table = entry_test(cond, "x", ctx, &mut t);
            match (table, cond.param()) {
                (Some(table), Some(param)) => {
                    sql.push(&format!(
                        "c.seq IN (SELECT x.seq FROM {table} x{} WHERE ",
                        closed_range_index(cond)
                    ));
                    ctx.scope(sql, "x", param);
                    sql.append(t);
                    sql.push(")");
                }
                _ => {
                    sql.push("0");
                }
            }
        }
    }
}

/// The index of an `eq` date, number or quantity: its matches start inside the search range,
/// one closed range of the index of starts. Without statistics SQLite may take the index of
/// ends instead, where `eq` bounds one side only (`value-quantity=13|…|/min` at 1M read every
/// value below 13.5: 0.3 s).
fn closed_range_index(cond: &Cond) -> &'static str {
    match cond {
        Cond::Date {
            prefix: Prefix::Eq, ..
        } => " INDEXED BY ix_date_by_low",
        Cond::Number {
            prefix: Prefix::Eq, ..
        }
        | Cond::Quantity {
            prefix: Prefix::Eq, ..
        } => " INDEXED BY ix_number_by_low",
        _ => "",
    }
}

/// ` AND (…)` on entry row `a`: its `group` column is one group's value and its `key` one of
/// that group's keys. No constant term in the OR, so that SQLite can serve each branch by the
/// index.
fn grouped_keys_test(
    sql: &mut Sql,
    a: &str,
    key: &str,
    group: &str,
    groups: Vec<(String, Vec<String>)>,
) {
    if groups.is_empty() {
        sql.push(" AND 0");
        return;
    }
    let parts = groups
        .into_iter()
        .map(|(value, keys)| {
            let mut part = Sql::default();
            part.push("(")
                .in_list(&format!("{a}.{key}"), &keys)
                .push(&format!(" AND {a}.{group} = "))
                .bind(value)
                .push(")");
            part
        })
        .collect();
    sql.push(" AND ");
    sql.append(Sql::balanced(parts, " OR "));
}

/// `c.seq IN (…)` with one sub-query per group: rows of `table` for `param` whose `key` is one
/// of the group's keys and whose `group` column is the group's value (references by target
/// type, codes by system). A long key list drives the loop from `json_each` (CROSS JOIN fixes
/// the join order): one index seek per key, whatever the planner guesses its size.
fn keys_in(
    sql: &mut Sql,
    ctx: &Ctx<'_>,
    table: &str,
    param: &str,
    key: &str,
    group: &str,
    groups: Vec<(String, Vec<String>)>,
) {
    if groups.is_empty() {
        sql.push("0");
        return;
    }
    let mut parts = Vec::with_capacity(groups.len());
    for (value, keys) in groups {
        let mut part = Sql::default();
        if keys.len() <= 64 {
            part.push(&format!("SELECT x.seq FROM {table} x WHERE "));
            ctx.scope(&mut part, "x", param);
            part.push(" AND ").in_list(&format!("x.{key}"), &keys);
        } else {
            let json = serde_json::Value::from(keys).to_string();
            part.push("SELECT x.seq FROM json_each(")
                .bind(json)
                .push(&format!(") j CROSS JOIN {table} x WHERE "));
            ctx.scope(&mut part, "x", param);
            part.push(&format!(" AND x.{key} = j.value"));
        }
        part.push(&format!(" AND x.{group} = ")).bind(value);
        parts.push(part);
    }
    sql.push(SEQ_IN);
    sql.append(Sql::union_all(parts));
    sql.push(")");
}

/// The component a composite part tests: its `param` is the component index as text.
fn part_index(part: &Cond, fallback: usize) -> usize {
    part.param()
        .and_then(|p| p.parse().ok())
        .unwrap_or(fallback)
}

/// How every index-served condition starts: `c.seq IN (sub-query)`.
const SEQ_IN: &str = "c.seq IN (";

/// The sub-query of a `c.seq IN (sub-query)` condition.
fn seq_subquery(text: &str) -> Option<&str> {
    text.strip_prefix(SEQ_IN)?.strip_suffix(')')
}

/// True when a resource matching `cond` is necessarily live: index rows exist only for the
/// current version of a resource that is not deleted (a deletion writes none).
fn implies_live(cond: &Cond) -> bool {
    match cond {
        Cond::Id(_) | Cond::IdIn(_) | Cond::LastUpdated { .. } => false,
        Cond::Missing { missing, .. } => !missing,
        _ => true,
    }
}

/// The positive SQL expression of one filter (its conditions ORed) on `c`.
fn filter_expr(f: &StoreFilter, ctx: &Ctx<'_>) -> Sql {
    let parts: Vec<Sql> = f
        .any
        .iter()
        .map(|cond| {
            let mut part = Sql::default();
            cond_sql(cond, ctx, &mut part);
            part
        })
        .collect();
    let mut sql = Sql::default();
    if parts.is_empty() {
        sql.push("0");
    } else if parts.len() == 1 {
        sql = parts.into_iter().next().unwrap_or_default();
    } else if parts.iter().all(|p| seq_subquery(&p.text).is_some()) {
        // One IN over the union: SQLite then reaches resources through current_by_seq,
        // where an OR of several INs would make it scan the type.
        let subs = parts
            .into_iter()
            .map(|mut p| {
                let sub = seq_subquery(&p.text).unwrap_or_default();
                // A part that is itself a union stays one term of the outer union.
                p.text = if sub.contains(" UNION ALL ") {
                    format!("SELECT seq FROM ({sub})")
                } else {
                    sub.to_string()
                };
                p
            })
            .collect();
        sql.push(SEQ_IN);
        sql.append(Sql::union_all(subs));
        sql.push(")");
    } else {
        sql.push("(");
        sql.append(Sql::balanced(parts, " OR "));
        sql.push(")");
    }
    sql
}

/// The `_lastUpdated` range test of a history row `x`.
fn last_updated_test(sql: &mut Sql, prefix: Prefix, low: i64, high: i64, ctx: &Ctx<'_>) {
    range_sql(
        sql,
        &common::instant_pred(prefix, low, high, ctx.now),
        |_| "x.t".to_string(),
    );
}

/// A check of one candidate `c` against a single-table condition that seeks the candidate's
/// own entries by `seq` (the `(seq, param, value…)` index; the seq fixes partition and type):
/// costs a few index rows per candidate, where enumerating a broad criterion's matches (every
/// Observation with a common code) would cost as much as it matches. `None` for conditions of
/// another shape.
fn probe(cond: &Cond, ctx: &Ctx<'_>) -> Option<Sql> {
    if let Cond::LastUpdated { prefix, low, high } = cond {
        // The candidate's own history row, by its rowid: the `IN` form would first list every
        // version in the range, which for a broad range is most of the type.
        let mut sql = Sql::default();
        sql.push("EXISTS (SELECT 1 FROM resource_history x WHERE x.seq = c.seq AND ");
        last_updated_test(&mut sql, *prefix, *low, *high, ctx);
        sql.push(")");
        return Some(sql);
    }
    if matches!(
        cond,
        Cond::ReferenceIn { .. } | Cond::Composite { .. } | Cond::Missing { .. }
    ) {
        return None;
    }
    let param = cond.param()?;
    let mut test = Sql::default();
    let table = entry_test(cond, "x", ctx, &mut test)?;
    let mut sql = Sql::default();
    sql.push(&format!(
        "EXISTS (SELECT 1 FROM {table} x INDEXED BY {table}_seq WHERE x.seq = c.seq AND x.param = "
    ))
    .bind(param.to_string());
    sql.append(test);
    sql.push(")");
    Some(sql)
}

/// Above this many matches a criterion counts as broad: the query is left to SQLite's planner,
/// which may walk the type in key order and stop at the page's end. Below it, enumerating the
/// driver's matches (about a microsecond each, from a covering index) bounds the query's cost.
const ESTIMATE_CAP: i64 = 20_000;

/// The cap when the query has one filter to drive from: past it the walk of the type may win.
const SINGLE_ESTIMATE_CAP: i64 = 2_000;

/// [`SINGLE_ESTIMATE_CAP`] for a page of `limit`: a walk of the type reads about `limit` ×
/// (type size / matches) rows before the page is full, so a long page (`_count=1000`, the
/// query of an `_include`) needs proportionally more matches before the walk wins. The
/// constant is for the default page of 20.
fn single_estimate_cap(limit: usize) -> i64 {
    let per_row = SINGLE_ESTIMATE_CAP / 20;
    SINGLE_ESTIMATE_CAP.max(
        i64::try_from(limit)
            .unwrap_or(i64::MAX)
            .saturating_mul(per_row),
    )
}

/// A driver with at most this many matches is taken without counting the other filters.
const GOOD_ENOUGH: i64 = 64;

/// How a query reaches its matches.
struct Plan {
    /// Each filter's positive expression, then (when one serves) a pair driver's.
    exprs: Vec<Sql>,
    /// The expression whose matches are enumerated through its index; the filters are checked
    /// per candidate.
    driver: Option<usize>,
    /// The driver is an index sub-query known to be narrow (fewer than [`ESTIMATE_CAP`]
    /// matches): the query must start from it, not from a walk of the type that SQLite may
    /// prefer in order to avoid a sort.
    narrow: bool,
    /// Some positive filter implies that a match is live, so deleted resources need no test.
    live: bool,
}

/// How a query reaches the history rows of its current versions.
#[derive(Clone, Copy, PartialEq)]
enum History {
    /// Not at all.
    None,
    /// Joined to each candidate (for its `_lastUpdated` as a later sort key).
    Joined,
    /// Walked in `_lastUpdated` order through a time index, each row looked up as the
    /// current version: for a search sorted by `_lastUpdated` first ([`Walk`]), the page's
    /// end is reached after about a page of rows instead of sorting every candidate
    /// (`Observation?_sort=-_lastUpdated` at 1M: 1.8–4.4 s → 4 ms).
    Walked,
}

/// Whether a search has no filter: then a walk of its order is never capped.
fn unfiltered(query: &StoreQuery) -> bool {
    query.filters.is_empty()
}

/// A search over one type sorted first by a date parameter, or over any types by
/// `_lastUpdated`, read in that order from an index so that the page ends after about a page
/// of rows instead of a sort of every match (`Encounter?_sort=-date` at 1M: 1.1 s;
/// `Observation?_sort=-_lastUpdated` 1.8–4.4 s). A filtered search in the default order (one
/// type) walks the current versions by id the same way.
///
/// By date: from `ix_date_by_low` (ascending: each resource at its earliest start, its sort
/// value `a`) or `ix_date_by_high` (descending: its latest end, `d`), each resource once, at
/// the one entry that holds that value. Resources without a value come after all the others:
/// a page that reaches them (fewer rows than asked) is read again the ordinary way, and so is
/// a backward page (its missing values come first). By `_lastUpdated`: the history's time
/// index (`history_by_type_time`, `history_by_time` over several types), each row looked up
/// as the current version.
///
/// A filtered search whose matches are many (no narrow driver: sorting them all is what
/// costs) walks too, over one type (by `_lastUpdated`, over any types: a system-level
/// `?_lastUpdated=gtX&_sort=-_lastUpdated` at 100k took 0.8 s sorted), but only over about [`walk_rows`] rows of the order from
/// the page's start: up to the value of that row (`edge`), ties with it included. Matches
/// that are dense along the order fill the page within them (a common code's Observations by
/// date); when they do not (filters correlated with the order: an unbounded walk of
/// `Condition?clinical-status=active&_sort=-recorded-date` at 1M read most of the index,
/// 25.7 s, against 0.38 s sorted) the page is sorted the ordinary way after a bounded detour.
/// A full page is the answer: every row not walked comes after the edge, so after the
/// page's last value. Number and quantity sorts are not walked: a filter usually selects one
/// kind of measurement, whose values sit in a band of their own (at 1M the 4,000 highest
/// Observation values held no heart rate: `code=8867-4&_sort=-value-quantity` took 0.19 s
/// walked in vain, 0.11 s sorted).
struct Walk {
    descending: bool,
    order: Order,
    /// Filtered: the value where the walk stops (`None`: the rows from the page's start on
    /// are fewer than [`walk_rows`]).
    edge: Option<Value>,
}

/// The order a [`Walk`] reads.
enum Order {
    /// A date parameter's values (`ix_date`).
    Date(String),
    /// `_lastUpdated` (the history's time index).
    Time,
    /// Ids (the current versions' primary key): the default order, within one type.
    Id,
}

/// The rows a filtered walk reads (ties aside) for a page of `limit`: enough for matches
/// that are one in 200 of the rows (code 9279-1 is one in 19 Observations at 1M).
fn walk_rows(limit: usize) -> i64 {
    i64::try_from(limit)
        .unwrap_or(i64::MAX)
        .saturating_mul(200)
        .clamp(4_000, 100_000)
}

impl Walk {
    fn of(
        conn: &Connection,
        query: &StoreQuery,
        keys: &[Key],
        ctx: &Ctx<'_>,
        plan: &Plan,
    ) -> rusqlite::Result<Option<Walk>> {
        let Some(key) = keys.first() else {
            return Ok(None);
        };
        let order = match query.sort.first().map(|s| &s.key) {
            Some(SortKey::Param {
                param,
                kind: ParamType::Date,
            }) if ctx.types.len() == 1 && !key.nulls_first => Order::Date(param.clone()),
            Some(SortKey::LastUpdated) => Order::Time,
            // Unfiltered, the primary key is SQLite's own choice.
            None if !unfiltered(query) => Order::Id,
            _ => return Ok(None),
        };
        let mut walk = Walk {
            descending: key.descending,
            order,
            edge: None,
        };
        if unfiltered(query) {
            return Ok(Some(walk));
        }
        // Ids are ordered within one type only; time is one order over every type.
        let one_order = ctx.types.len() == 1 || matches!(walk.order, Order::Time);
        if plan.narrow || id_filter(query).is_some() || !one_order {
            return Ok(None);
        }
        let start = match (&walk.order, &query.after) {
            (_, None) => None,
            (Order::Id, Some(c)) => Some(Value::Text(c.id.clone())),
            (_, Some(c)) => match c.values.first() {
                Some(SortValue::Int(v)) => Some(Value::Integer(*v)),
                _ => return Ok(None),
            },
        };
        walk.edge = walk.row_value(conn, ctx, start, walk_rows(query.limit))?;
        Ok(Some(walk))
    }

    /// The value of the `n`th row of the order from `start` on, if there are that many.
    fn row_value(
        &self,
        conn: &Connection,
        ctx: &Ctx<'_>,
        start: Option<Value>,
        n: i64,
    ) -> rusqlite::Result<Option<Value>> {
        let col = self.column();
        let mut sql = Sql::default();
        match &self.order {
            Order::Date(param) => {
                sql.push(&format!(
                    "SELECT {col} FROM ix_date INDEXED BY ix_date_by_{col} WHERE param = "
                ))
                .bind(param.clone());
            }
            Order::Time if ctx.types.len() == 1 => {
                sql.push("SELECT t FROM resource_history INDEXED BY history_by_type_time WHERE 1");
            }
            Order::Time => {
                sql.push("SELECT t FROM resource_history INDEXED BY history_by_time WHERE 1");
            }
            Order::Id => {
                sql.push("SELECT id FROM resource_current WHERE 1");
            }
        }
        sql.push(" AND partition = ")
            .bind(ctx.partition.to_string())
            .push(" AND rtype IN (")
            .bind_list(ctx.types.iter().cloned())
            .push(")");
        let (op, dir) = if self.descending {
            ("<=", "DESC")
        } else {
            (">=", "ASC")
        };
        if let Some(v) = start {
            sql.push(&format!(" AND {col} {op} ")).bind(v);
        }
        sql.push(&format!(" ORDER BY {col} {dir} LIMIT 1 OFFSET "))
            .bind(n - 1);
        conn.prepare_cached(&sql.text)?
            .query_row(params_from_iter(sql.params.iter()), |r| r.get(0))
            .optional()
    }

    /// The column the walk is ordered by: `ix_date`'s `low` or `high`, the history's `t`, or
    /// the id.
    fn column(&self) -> &'static str {
        match (&self.order, self.descending) {
            (Order::Time, _) => "t",
            (Order::Id, _) => "id",
            (Order::Date(_), true) => "high",
            (Order::Date(_), false) => "low",
        }
    }

    /// The date parameter walked, if the walk is by date.
    fn date(&self) -> Option<&String> {
        match &self.order {
            Order::Date(p) => Some(p),
            _ => None,
        }
    }

    /// The date walk's `ix_present` sort value that its column equals.
    fn sort_value(&self) -> &'static str {
        if self.descending {
            "d"
        } else {
            "a"
        }
    }

    /// Whether a short page may still miss matches (dateless resources, or rows past the
    /// edge), so that it must be read again the ordinary way.
    fn may_miss(&self) -> bool {
        self.date().is_some() || self.edge.is_some()
    }

    /// The walk's end: the edge, in the walked table's column.
    fn edge_sql(&self, table: &str, sql: &mut Sql) {
        if let Some(edge) = &self.edge {
            let op = if self.descending { ">=" } else { "<=" };
            sql.push(&format!(" AND {table}.{} {op} ", self.column()))
                .bind(edge.clone());
        }
    }
}

/// How narrow a filter likely is: its broadest condition's [`common::narrowness`].
fn filter_rank(f: &StoreFilter) -> u8 {
    f.any
        .iter()
        .map(common::narrowness)
        .max()
        .unwrap_or(u8::MAX)
}

/// The positive filter on explicit ids, which drives any search it is in (the primary key
/// serves it).
fn id_filter(query: &StoreQuery) -> Option<usize> {
    query
        .filters
        .iter()
        .position(|f| !f.negate && !f.any.is_empty() && filter_rank(f) == 0)
}

impl Plan {
    /// Picks the driving filter: among the positive filters whose matches are one index
    /// sub-query, the one with the fewest matches, counted from the covering index up to a
    /// cap (SQLite keeps no statistics of index values unless ANALYZE runs, and they would go
    /// stale). A filter on explicit ids drives without counting: the primary key serves it.
    fn new(conn: &Connection, query: &StoreQuery, ctx: &Ctx<'_>) -> rusqlite::Result<Plan> {
        let exprs: Vec<Sql> = query.filters.iter().map(|f| filter_expr(f, ctx)).collect();
        let live = query
            .filters
            .iter()
            .any(|f| !f.negate && !f.any.is_empty() && f.any.iter().all(implies_live));
        let positive = |f: &StoreFilter| !f.negate && !f.any.is_empty();
        let rank = filter_rank;
        let by_id = id_filter(query);
        if by_id.is_some() {
            return Ok(Plan {
                exprs,
                driver: by_id,
                narrow: false,
                live,
            });
        }
        if let Some(pair) = pair_driver(query, ctx) {
            // Narrower than either criterion alone: it drives, and both are checked per
            // candidate like every other filter.
            let mut exprs = exprs;
            exprs.push(pair);
            return Ok(Plan {
                driver: Some(exprs.len() - 1),
                exprs,
                narrow: true,
                live,
            });
        }
        let mut exprs = exprs;
        let mut candidates: Vec<usize> = (0..query.filters.len())
            .filter(|&i| positive(&query.filters[i]) && seq_subquery(&exprs[i].text).is_some())
            .collect();
        let filters_to_count = candidates.len();
        for w in common::date_windows(&query.filters, ctx.now, false) {
            exprs.push(window_driver(&w, ctx));
            candidates.push(exprs.len() - 1);
        }
        // A window is counted before the date filters it comes from (they are not counted).
        let rank_of = |i: usize| query.filters.get(i).map_or(WINDOW_RANK, rank);
        candidates.sort_by_key(|&i| rank_of(i));
        // With one filter (a window from it included) there is only narrow or not to find
        // out, and a walk of the type in key order that stops at the page's end wins as soon
        // as the matches are many: the count stops much earlier.
        let first_cap = if filters_to_count == 1 {
            single_estimate_cap(query.limit)
        } else {
            ESTIMATE_CAP
        };
        // Likely-narrow kinds first; each later count stops at the best so far, and a driver
        // this narrow is not worth more counting.
        let mut best: Option<(i64, usize)> = None;
        for &i in &candidates {
            let cap = best.map_or(first_cap, |(n, _)| n);
            let n = if query
                .filters
                .get(i)
                .is_none_or(|f| f.any.iter().all(seekable))
            {
                estimate(conn, &exprs[i], cap)?
            } else {
                first_cap
            };
            if best.is_none_or(|(b, _)| n < b) {
                best = Some((n, i));
            }
            if n <= GOOD_ENOUGH {
                break;
            }
        }
        Ok(Plan {
            exprs,
            driver: best.map(|(_, i)| i),
            narrow: best.is_some_and(|(n, _)| n < first_cap),
            live,
        })
    }
}

/// Where a date window ranks among the filters as a driver: after everything but dates.
const WINDOW_RANK: u8 = 6;

/// The decimal digit counts of hull widths (`d - a` in microseconds) that
/// `ix_present_window` separates; SQLite writes a difference that overflows as a real
/// (`1.84467440737096e+19`, 20 characters).
const WIDTH_CLASSES: std::ops::RangeInclusive<u32> = 1..=24;

/// The resources whose hull of `w.param` overlaps the window, from `ix_present_window`: per
/// width class one index range, since a hull narrower than 10^c that ends at or after
/// `from` starts after `from - 10^c`. (One range over every hull starting before `to`
/// would read everything before the window.)
fn window_driver(w: &common::DateWindow, ctx: &Ctx<'_>) -> Sql {
    let mut sql = Sql::default();
    sql.push(SEQ_IN).push("SELECT m.seq FROM (VALUES ");
    for (i, class) in WIDTH_CLASSES.enumerate() {
        let lowest = 10i64
            .checked_pow(class)
            .and_then(|span| w.from.checked_sub(span))
            .map_or(i64::MIN, |v| v + 1);
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&format!("({class}, ")).bind(lowest).push(")");
    }
    sql.push(") w CROSS JOIN ix_present m WHERE ");
    ctx.scope(&mut sql, "m", &w.param);
    sql.push(
        " AND typeof(m.a) = 'integer' AND length(m.d - m.a) = w.column1 \
         AND m.a >= w.column2 AND m.a <= ",
    )
    .bind(w.to)
    .push(" AND m.d >= ")
    .bind(w.from)
    .push(")");
    sql
}

/// The `ix_pair` sub-query of a search with a positive Patient reference and a positive coded
/// token criterion: the resources that refer to that patient and have that code, plus those
/// that refer to too many patients to have pair rows.
fn pair_driver(query: &StoreQuery, ctx: &Ctx<'_>) -> Option<Sql> {
    let single = |f: &'_ StoreFilter| -> Option<Cond> {
        (!f.negate && f.any.len() == 1).then(|| f.any[0].clone())
    };
    let patient = query.filters.iter().find_map(|f| match single(f)? {
        Cond::Reference {
            target_type: Some(t),
            id: Some(id),
            url: None,
            ..
        } if t == "Patient" => Some(id),
        _ => None,
    })?;
    let (code, system) = query.filters.iter().find_map(|f| match single(f)? {
        Cond::Token {
            system,
            code: Some(code),
            ..
        } => Some((code, system)),
        _ => None,
    })?;
    let mut sql = Sql::default();
    sql.push(SEQ_IN)
        .push("SELECT seq FROM ix_pair WHERE partition = ")
        .bind(ctx.partition.to_string())
        .push(" AND rtype IN (")
        .bind_list(ctx.types.iter().cloned())
        .push(") AND patient = ")
        .bind(patient)
        .push(" AND code = ")
        .bind(code);
    match system {
        SystemMatch::Any => {}
        SystemMatch::None => {
            sql.push(" AND system = ''");
        }
        SystemMatch::Is(s) => {
            sql.push(" AND system = ").bind(s);
        }
    }
    sql.push(" UNION ALL SELECT seq FROM ix_pair_overflow WHERE partition = ")
        .bind(ctx.partition.to_string())
        .push(" AND rtype IN (")
        .bind_list(ctx.types.iter().cloned())
        .push("))");
    Some(sql)
}

/// True when a condition's matches are one contiguous range of its index, so that counting
/// them up to a cap reads at most that many rows (an `eq` range: the starts within the search
/// range, whose ends are checked in the index). Other ranges have one bound per column, ORs
/// of ranges, `:contains` and `:text` read the parameter's rows until enough match: such
/// conditions are not counted and rank as broad.
fn seekable(cond: &Cond) -> bool {
    match cond {
        Cond::Reference { .. }
        | Cond::ReferenceIn { .. }
        | Cond::Uri { .. }
        | Cond::TokenIn { .. } => true,
        // A quantity's unit is not in the value index: with one, each row in the range would
        // be read from the table to be counted (`value-quantity=13|…|/min` at 1M: a count of
        // 43 ms became 280 ms when counted so).
        Cond::Date { prefix, .. }
        | Cond::Number { prefix, .. }
        | Cond::Quantity {
            prefix,
            system: None,
            code: None,
            ..
        } => *prefix == Prefix::Eq,
        Cond::Token { code, system, .. } => code.is_some() || matches!(system, SystemMatch::Is(_)),
        Cond::String { mode, .. } => *mode != StringMode::Contains,
        // The band's rows carry the unit vectors the chord test reads.
        Cond::Near { .. } => true,
        _ => false,
    }
}

/// The number of matches of an index sub-query, counted up to `cap`.
fn estimate(conn: &Connection, expr: &Sql, cap: i64) -> rusqlite::Result<i64> {
    let Some(sub) = seq_subquery(&expr.text) else {
        return Ok(cap);
    };
    let text = format!("SELECT count(*) FROM ({sub} LIMIT {cap})");
    conn.prepare_cached(&text)?
        .query_row(params_from_iter(expr.params.iter()), |r| r.get(0))
}

/// ` AND …` for every filter but `skip`: the driver as its index sub-query, the other positive
/// single-condition filters as per-candidate checks.
/// `walked`: the candidates come from a walk of the order, not from the driver, so every
/// filter is probed per candidate (an `IN` of the driver's matches would list them all).
fn filters_sql(
    query: &StoreQuery,
    plan: &Plan,
    ctx: &Ctx<'_>,
    skip: Option<usize>,
    walked: bool,
    sql: &mut Sql,
) {
    // A driver that is not one of the filters (a pair): it goes in as a condition of its own.
    if let Some(d) = plan
        .driver
        .filter(|&d| d >= query.filters.len() && Some(d) != skip)
    {
        sql.push(" AND ");
        sql.append(plan.exprs[d].clone());
    }
    let mut terms = Vec::with_capacity(query.filters.len());
    for (n, f) in query.filters.iter().enumerate() {
        if Some(n) == skip {
            continue;
        }
        let mut term = Sql::default();
        if f.any.len() == 1 && !f.negate && (walked || plan.driver.is_some_and(|d| d != n)) {
            if let Some(p) = probe(&f.any[0], ctx) {
                term.append(p);
                terms.push(term);
                continue;
            }
        }
        term.push(if f.negate { "NOT (" } else { "(" });
        term.append(plan.exprs[n].clone());
        term.push(")");
        terms.push(term);
    }
    if !terms.is_empty() {
        sql.push(" AND ");
        sql.append(Sql::balanced(terms, " AND "));
    }
}

/// The resource types present in a partition, by skipping through the primary key.
pub fn types_in(conn: &Connection, partition: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE t(r) AS (
            SELECT (SELECT MIN(rtype) FROM resource_current WHERE partition = ?1)
            UNION ALL
            SELECT (SELECT MIN(rtype) FROM resource_current WHERE partition = ?1 AND rtype > t.r)
            FROM t WHERE t.r IS NOT NULL)
         SELECT r FROM t WHERE r IS NOT NULL",
    )?;
    let rows = stmt.query_map([partition], |r| r.get(0))?;
    rows.collect()
}

fn query_types(
    conn: &Connection,
    partition: &str,
    query: &StoreQuery,
) -> rusqlite::Result<Vec<String>> {
    if query.resource_types.is_empty() {
        types_in(conn, partition)
    } else {
        Ok(query.resource_types.clone())
    }
}

/// ` ORDER BY` the keys, each given by `expr` (missing values placed as the key says).
fn order_by(
    sql: &mut Sql,
    keys: &[Key],
    never_null: Option<usize>,
    expr: impl Fn(usize, &Key) -> String,
) {
    sql.push(" ORDER BY ");
    for (i, k) in keys.iter().enumerate() {
        let e = expr(i, k);
        if i > 0 {
            sql.push(", ");
        }
        if k.nullable() && never_null != Some(i) {
            let nulls = if k.nulls_first { "DESC" } else { "ASC" };
            sql.push(&format!("({e} IS NULL) {nulls}, "));
        }
        sql.push(&format!(
            "{e} {}",
            if k.descending { "DESC" } else { "ASC" }
        ));
    }
}

fn key_expr(k: &Key, i: usize) -> String {
    match &k.kind {
        KeyKind::Id => "c.id".into(),
        KeyKind::ResourceType => "c.rtype".into(),
        KeyKind::LastUpdated => "h.t".into(),
        KeyKind::Param { descending, .. } => {
            format!("s{i}.{}", if *descending { "d" } else { "a" })
        }
    }
}

/// The base `FROM … WHERE` of a query: live current versions of the types, matching the
/// filters. `joins` go between the FROM and the WHERE; `h` (the version's history row) comes
/// in as `history` says. When the filters do not already imply a live resource, the
/// deletions are left out through `history_deletes` (or `h`, when it is there anyway).
fn from_where(
    ctx: &Ctx<'_>,
    query: &StoreQuery,
    plan: &Plan,
    joins: Sql,
    history: History,
    walk: Option<&Walk>,
    sql: &mut Sql,
) {
    // CROSS JOIN fixes the order: SQLite would rather start from the current versions.
    let table = match history {
        _ if walk.is_some_and(|w| w.date().is_some()) => {
            let col = walk.map(Walk::column).unwrap_or_default();
            sql.push(&format!(
                " FROM ix_date x INDEXED BY ix_date_by_{col} CROSS JOIN resource_current c ON c.seq = x.seq"
            ));
            if history == History::Joined {
                sql.push(" JOIN resource_history h ON h.seq = c.seq");
            }
            "x"
        }
        History::Walked => {
            sql.push(
                " FROM resource_history h CROSS JOIN resource_current c ON c.partition = h.partition \
                 AND c.rtype = h.rtype AND c.id = h.id AND c.seq = h.seq",
            );
            "h"
        }
        History::Joined => {
            sql.push(" FROM resource_current c JOIN resource_history h ON h.seq = c.seq");
            "c"
        }
        History::None => {
            sql.push(" FROM resource_current c");
            "c"
        }
    };
    // `+` takes the primary key out of SQLite's choice, so a narrow driver leads.
    let hint = if plan.narrow { "+" } else { "" };
    sql.append(joins);
    sql.push(&format!(" WHERE {hint}{table}.partition = "))
        .bind(ctx.partition.to_string())
        .push(&format!(" AND {hint}{table}.rtype IN ("))
        .bind_list(ctx.types.iter().cloned())
        .push(")");
    let date_walk = walk.and_then(|w| Some((w, w.date()?)));
    if let Some((w, param)) = date_walk {
        // Each resource at its one entry holding the sort value (the first such entry).
        let (col, value) = (w.column(), w.sort_value());
        sql.push(" AND x.param = ")
            .bind(param.clone())
            .push(&format!(
            " AND x.{col} = s0.{value} AND NOT EXISTS (SELECT 1 FROM ix_date y \
             WHERE y.seq = x.seq AND y.param = x.param AND y.{col} = x.{col} AND y.rowid < x.rowid)"
        ));
    }
    if let Some(w) = walk {
        w.edge_sql(table, sql);
    }
    // Index rows, which a date walk reads, exist for live current versions only.
    if !plan.live && date_walk.is_none() {
        sql.push(if history != History::None {
            " AND h.method <> 'DELETE'"
        } else {
            " AND NOT EXISTS (SELECT 1 FROM resource_history d INDEXED BY history_deletes \
             WHERE d.seq = c.seq AND d.method = 'DELETE')"
        });
    }
    let walked = walk.is_some() && !unfiltered(query);
    filters_sql(query, plan, ctx, None, walked, sql);
}

/// The first step of a search: the page's matches (seq, type, id and sort keys), ordered and
/// cut to the page on their keys alone.
fn page_sql(
    ctx: &Ctx<'_>,
    query: &StoreQuery,
    plan: &Plan,
    keys: &[Key],
    walk: Option<&Walk>,
) -> Sql {
    // The walked key is the `ix_date` column itself, never missing, so that SQLite sees the
    // index's order.
    let expr = |i: usize, k: &Key| match walk {
        Some(w) if i == 0 && w.date().is_some() => format!("x.{}", w.column()),
        _ => key_expr(k, i),
    };
    let by_time = keys.iter().any(|k| k.kind == KeyKind::LastUpdated);
    let mut joins = Sql::default();
    for (i, k) in keys.iter().enumerate() {
        if let KeyKind::Param { param, .. } = &k.kind {
            joins
                .push(&format!(
                    " LEFT JOIN ix_present s{i} ON s{i}.seq = c.seq AND s{i}.param = "
                ))
                .bind(param.clone());
        }
    }
    // Two steps: the matches are ordered and cut to the page on their keys alone, and only
    // the page's rows fetch their bodies; sorting whole rows would carry every match's body
    // through the sorter.
    let mut page = Sql::default();
    page.push("SELECT c.seq AS seq, c.rtype AS rtype, c.id AS id");
    for (i, k) in keys.iter().enumerate() {
        page.push(&format!(", {} AS k{i}", expr(i, k)));
    }
    let history = match walk {
        Some(Walk {
            order: Order::Time, ..
        }) => History::Walked,
        _ if by_time => History::Joined,
        _ => History::None,
    };
    from_where(ctx, query, plan, joins, history, walk, &mut page);
    if let Some(cursor) = &query.after {
        let after = common::keyset_after(keys, &common::cursor_tuple(cursor));
        page.push(" AND (0");
        for conj in after {
            page.push(" OR (1");
            for (i, op) in conj {
                let e = expr(i, &keys[i]);
                match op {
                    KeyOp::IsNull => page.push(&format!(" AND {e} IS NULL")),
                    KeyOp::NotNull => page.push(&format!(" AND {e} IS NOT NULL")),
                    KeyOp::Eq(v) => page
                        .push(&format!(" AND {e} = "))
                        .bind(key_value_sql(&keys[i], &v)),
                    KeyOp::Gt(v) => page
                        .push(&format!(" AND {e} > "))
                        .bind(key_value_sql(&keys[i], &v)),
                    KeyOp::Lt(v) => page
                        .push(&format!(" AND {e} < "))
                        .bind(key_value_sql(&keys[i], &v)),
                };
            }
            page.push(")");
        }
        page.push(")");
    }
    order_by(&mut page, keys, walk.map(|_| 0), expr);
    page.push(" LIMIT ")
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    page
}

pub fn search(
    conn: &Connection,
    partition: &str,
    query: &StoreQuery,
) -> rusqlite::Result<Vec<Match>> {
    let types = query_types(conn, partition, query)?;
    if types.is_empty() || query.limit == 0 {
        return Ok(Vec::new());
    }
    let ctx = Ctx {
        partition,
        types: &types,
        now: common::now_micros(),
    };
    let plan = Plan::new(conn, query, &ctx)?;
    let backward = query.after.as_ref().is_some_and(|c| c.backward);
    let keys = common::order_keys(&query.sort, backward);
    let walk = Walk::of(conn, query, &keys, &ctx, &plan)?;
    let mut out = page(conn, query, &ctx, &plan, &keys, walk.as_ref())?;
    if walk.as_ref().is_some_and(Walk::may_miss) && out.len() < query.limit {
        out = page(conn, query, &ctx, &plan, &keys, None)?;
    }
    if backward {
        out.reverse();
    }
    Ok(out)
}

/// One page: its matches chosen and ordered on their keys, then their bodies.
fn page(
    conn: &Connection,
    query: &StoreQuery,
    ctx: &Ctx<'_>,
    plan: &Plan,
    keys: &[Key],
    walk: Option<&Walk>,
) -> rusqlite::Result<Vec<Match>> {
    let page = page_sql(ctx, query, plan, keys, walk);
    let mut sql = Sql::default();
    sql.push("SELECT p.rtype, p.id, h.version, h.t, h.method, h.body");
    for i in 0..query.sort.len() {
        sql.push(&format!(", p.k{i}"));
    }
    sql.push(" FROM (");
    sql.append(page);
    sql.push(") p JOIN resource_history h ON h.seq = p.seq");
    order_by(&mut sql, keys, None, |i, _| format!("p.k{i}"));
    tracing::debug!(sql = %sql.text, params = ?sql.params, "sqlite search page");
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let n_sort = query.sort.len();
    let rows = stmt.query_map(params_from_iter(sql.params.iter()), |row| {
        let mut sort = Vec::with_capacity(n_sort);
        for i in 0..n_sort {
            sort.push(sort_value_of(row.get::<_, Value>(6 + i)?));
        }
        Ok(Match {
            version: row_to_version(row)?,
            sort,
        })
    })?;
    rows.collect()
}

pub fn count(conn: &Connection, partition: &str, query: &StoreQuery) -> rusqlite::Result<u64> {
    let types = query_types(conn, partition, query)?;
    if types.is_empty() {
        return Ok(0);
    }
    let ctx = Ctx {
        partition,
        types: &types,
        now: common::now_micros(),
    };
    let plan = Plan::new(conn, query, &ctx)?;
    let mut sql = Sql::default();
    let driver = plan
        .driver
        .filter(|&d| seq_subquery(&plan.exprs[d].text).is_some());
    let by_ids = query.filters.iter().any(|f| {
        f.any
            .iter()
            .any(|c| matches!(c, Cond::Id(_) | Cond::IdIn(_)))
    });
    // Index rows name live current versions only; `_lastUpdated` rows are history rows, of
    // every version and of deletions too.
    let index_rows =
        |d: usize| d >= query.filters.len() || query.filters[d].any.iter().all(implies_live);
    match driver {
        // The driver's index rows name live current versions of the searched types already:
        // the count reads the index alone, checking the other filters by seq.
        Some(d) if !by_ids && index_rows(d) => {
            let e = &plan.exprs[d];
            sql.push(&format!(
                "SELECT count(*) FROM (SELECT DISTINCT seq FROM ({})) c WHERE 1",
                seq_subquery(&e.text).unwrap_or_default()
            ));
            sql.params.extend(e.params.iter().cloned());
            filters_sql(query, &plan, &ctx, Some(d), false, &mut sql);
        }
        _ => {
            sql.push("SELECT count(*)");
            from_where(
                &ctx,
                query,
                &plan,
                Sql::default(),
                History::None,
                None,
                &mut sql,
            );
        }
    }
    tracing::debug!(sql = %sql.text, params = ?sql.params, "sqlite count");
    let n: i64 = conn
        .prepare_cached(&sql.text)?
        .query_row(params_from_iter(sql.params.iter()), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// The query plan SQLite picks for a search's filters (how candidates are found, without
/// the order and the page), one line per step (for tests and diagnostics).
pub fn explain(conn: &Connection, partition: &str, query: &StoreQuery) -> rusqlite::Result<String> {
    explain_with(conn, partition, query, |ctx, query, plan, sql| {
        sql.push("SELECT c.id");
        from_where(ctx, query, plan, Sql::default(), History::None, None, sql);
        Ok(())
    })
}

/// The query plan SQLite picks for the first step of a search as it runs: its filters, order
/// and page.
pub fn explain_page(
    conn: &Connection,
    partition: &str,
    query: &StoreQuery,
) -> rusqlite::Result<String> {
    explain_with(conn, partition, query, |ctx, query, plan, sql| {
        let backward = query.after.as_ref().is_some_and(|c| c.backward);
        let keys = common::order_keys(&query.sort, backward);
        let walk = Walk::of(conn, query, &keys, ctx, plan)?;
        sql.append(page_sql(ctx, query, plan, &keys, walk.as_ref()));
        Ok(())
    })
}

fn explain_with(
    conn: &Connection,
    partition: &str,
    query: &StoreQuery,
    build: impl FnOnce(&Ctx<'_>, &StoreQuery, &Plan, &mut Sql) -> rusqlite::Result<()>,
) -> rusqlite::Result<String> {
    let types = query_types(conn, partition, query)?;
    let ctx = Ctx {
        partition,
        types: &types,
        now: common::now_micros(),
    };
    let plan = Plan::new(conn, query, &ctx)?;
    let mut sql = Sql::default();
    sql.push("EXPLAIN QUERY PLAN ");
    build(&ctx, query, &plan, &mut sql)?;
    let mut stmt = conn.prepare(&sql.text)?;
    let rows = stmt.query_map(params_from_iter(sql.params.iter()), |r| {
        r.get::<_, String>(3)
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("\n"))
}

/// Current, live versions of the given resources: one query per type.
pub fn read_many(
    conn: &Connection,
    partition: &str,
    refs: &[(String, String)],
) -> rusqlite::Result<Vec<Version>> {
    let mut types: Vec<&str> = refs.iter().map(|(t, _)| t.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let mut out = Vec::new();
    for t in types {
        let ids: Vec<String> = refs
            .iter()
            .filter(|(rt, _)| rt == t)
            .map(|(_, id)| id.clone())
            .collect();
        for chunk in ids.chunks(500) {
            let mut sql = Sql::default();
            sql.push(
                "SELECT c.rtype, c.id, h.version, h.t, h.method, h.body
                 FROM resource_current c JOIN resource_history h ON h.seq = c.seq
                 WHERE c.partition = ",
            )
            .bind(partition.to_string())
            .push(" AND c.rtype = ")
            .bind(t.to_string())
            .push(" AND c.id IN (")
            .bind_list(chunk.iter().cloned())
            .push(") AND h.body IS NOT NULL");
            let mut stmt = conn.prepare_cached(&sql.text)?;
            let rows = stmt.query_map(params_from_iter(sql.params.iter()), row_to_version)?;
            for r in rows {
                out.push(r?);
            }
        }
    }
    Ok(out)
}
