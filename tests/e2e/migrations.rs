//! The SQLite and the PostgreSQL migrations add up to the same schema.
//!
//! Each set is applied to a fresh database the way `serve` and `migrate` apply it
//! (`Store::migrate`: a SQLite file; a schema of its own on the PostgreSQL server that
//! `TEST_DATABASE_URL` names), then both catalogs are read and compared: tables, columns (type
//! through [`TYPES`], nullability, default, collation), primary keys, unique constraints, indexes
//! (columns, uniqueness, partial predicate), foreign keys and checks. Column order is not compared:
//! the store reads columns by name, and SQLite's `ADD COLUMN` can only append. sqlx's
//! `_sqlx_migrations` table is left out. A deliberate difference is on [`ALLOWED`] with its reason;
//! any other fails the test, listed table by table with what each backend has.
//!
//! Without `TEST_DATABASE_URL` only the SQLite side runs (`.ci/run` provides PostgreSQL).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, Row};
use voice_gateway::config::DatabaseConfig;
use voice_gateway::store::Store;

use crate::harness::test_database_url;

/// For each PostgreSQL type, the SQLite type that stores the same values as the store writes
/// and reads them (sqlx's `Any` driver: text, 64-bit integers, floats, booleans, bytes). Not
/// `integer`: it holds 32 bits where SQLite's INTEGER holds 64.
const TYPES: &[(&str, &str)] = &[
    ("text", "TEXT"),
    ("bigint", "INTEGER"),
    // SQLite has no boolean type: the store's booleans are 0 and 1 there.
    ("boolean", "INTEGER"),
    ("double precision", "REAL"),
    ("bytea", "BLOB"),
];

/// The differences that are meant to be there.
const ALLOWED: &[Allowed] = &[
    Allowed {
        table: "calls",
        kind: Kind::Table,
        name: "",
        aspect: Some("options"),
        postgres: "fillfactor=80",
        reason: "every applied webhook rewrites its call's row: room on each page lets PostgreSQL \
                 update it in place (HOT); SQLite has no such setting",
    },
    Allowed {
        table: "users",
        kind: Kind::Column,
        name: "username",
        aspect: Some("collation"),
        postgres: "default",
        reason: "`user list` orders by it: on a database whose collation is not C the order can \
                 differ from SQLite's; collating it \"C\" would reorder existing installations' lists",
    },
    Allowed {
        table: "*",
        kind: Kind::Column,
        name: "*",
        aspect: Some("collation"),
        postgres: "default",
        reason: "text only compared for equality keeps the database's collation; ids and \
                 timestamps, which are ordered, are \"C\" (byte order, as SQLite's BINARY)",
    },
];

/// One deliberate difference. `"*"` as `table` or `name` matches any; `aspect` `None` is a
/// thing one backend has and the other has not; `postgres` is PostgreSQL's side as the report
/// shows it (`"(none)"` where it has not the thing).
struct Allowed {
    table: &'static str,
    kind: Kind,
    name: &'static str,
    aspect: Option<&'static str>,
    postgres: &'static str,
    reason: &'static str,
}

impl Allowed {
    fn matches(&self, d: &Difference) -> bool {
        (self.table == "*" || self.table == d.table)
            && self.kind == d.thing.kind
            && (self.name == "*" || self.name == d.thing.name)
            && self.aspect == d.aspect
            && d.postgres.as_deref().unwrap_or(NONE) == self.postgres
    }
}

/// What the report shows for the side that lacks a thing.
const NONE: &str = "(none)";

// --- the model --------------------------------------------------------------------------------

/// One backend's schema: per table, the things in it, each with the aspects compared.
#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Table>,
}

type Table = BTreeMap<Thing, Vec<(&'static str, Value)>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Table,
    Column,
    PrimaryKey,
    Unique,
    Index,
    ForeignKey,
    Check,
    Constraint,
}

/// A column, key, index, ... of a table, named the same way on both backends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Thing {
    kind: Kind,
    name: String,
}

impl Thing {
    fn new(kind: Kind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for Thing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Table => "table",
            Kind::Column => "column",
            Kind::PrimaryKey => "primary key",
            Kind::Unique => "unique",
            Kind::Index => "index",
            Kind::ForeignKey => "foreign key",
            Kind::Check => "check",
            Kind::Constraint => "constraint",
        };
        if self.name.is_empty() {
            f.write_str(kind)
        } else {
            write!(f, "{kind} {}", self.name)
        }
    }
}

/// An aspect's value: `compared` is normalized across the backends, `shown` is as the backend
/// has it.
#[derive(Debug, Clone)]
struct Value {
    compared: String,
    shown: String,
}

impl Value {
    fn new(compared: impl Into<String>, shown: impl Into<String>) -> Self {
        Self {
            compared: compared.into(),
            shown: shown.into(),
        }
    }

    fn plain(value: impl Into<String>) -> Self {
        let value = value.into();
        Self::new(value.clone(), value)
    }
}

fn summary(aspects: &[(&'static str, Value)]) -> String {
    if aspects.is_empty() {
        return "present".to_owned();
    }
    let shown: Vec<_> = aspects
        .iter()
        .map(|(aspect, value)| format!("{aspect} {}", value.shown))
        .collect();
    shown.join(", ")
}

/// A table's storage options, `none` when it has none.
fn options(options: Vec<String>) -> Vec<(&'static str, Value)> {
    let shown = if options.is_empty() {
        "none".to_owned()
    } else {
        options.join(", ")
    };
    vec![("options", Value::plain(shown))]
}

fn column_list(columns: &[String]) -> String {
    format!("({})", columns.join(", "))
}

fn column_aspects(
    ty: Value,
    not_null: bool,
    default: Value,
    collation: Option<Value>,
) -> Vec<(&'static str, Value)> {
    let null = if not_null {
        Value::new("not null", "NOT NULL")
    } else {
        Value::new("nullable", "NULL")
    };
    let mut aspects = vec![("type", ty), ("null", null), ("default", default)];
    aspects.extend(collation.map(|c| ("collation", c)));
    aspects
}

fn index_aspects(
    columns: Vec<String>,
    unique: bool,
    predicate: Value,
    method: &str,
) -> Vec<(&'static str, Value)> {
    vec![
        ("columns", Value::plain(column_list(&columns))),
        ("unique", Value::plain(if unique { "yes" } else { "no" })),
        ("where", predicate),
        ("method", Value::plain(method)),
    ]
}

fn foreign_key_aspects(
    table: &str,
    columns: &[String],
    on_update: &str,
    on_delete: &str,
) -> Vec<(&'static str, Value)> {
    vec![
        (
            "references",
            Value::plain(format!("{table} {}", column_list(columns))),
        ),
        ("on update", Value::plain(on_update)),
        ("on delete", Value::plain(on_delete)),
    ]
}

/// A default as both backends should agree on it: casts dropped, booleans as 0 and 1.
fn default_value(raw: Option<&str>) -> Value {
    let Some(raw) = raw else {
        return Value::plain("none");
    };
    let compared = match condition(raw).as_str() {
        "false" => "0".to_owned(),
        "true" => "1".to_owned(),
        other => other.to_owned(),
    };
    Value::new(compared, raw)
}

// --- the comparison ---------------------------------------------------------------------------

/// A thing (or one aspect of it) one backend has and the other has not, or has otherwise.
#[derive(Debug)]
struct Difference {
    table: String,
    thing: Thing,
    /// `None`: the thing exists on one side only.
    aspect: Option<&'static str>,
    sqlite: Option<String>,
    postgres: Option<String>,
}

fn compare(sqlite: &Schema, postgres: &Schema) -> Vec<Difference> {
    let mut differences = Vec::new();
    let names: BTreeSet<&String> = sqlite.tables.keys().chain(postgres.tables.keys()).collect();
    for name in names {
        let (s, p) = (sqlite.tables.get(name), postgres.tables.get(name));
        let (Some(s), Some(p)) = (s, p) else {
            let describe =
                |table: Option<&Table>| table.map(|t| format!("{} columns", count_columns(t)));
            differences.push(Difference {
                table: name.clone(),
                thing: Thing::new(Kind::Table, ""),
                aspect: None,
                sqlite: describe(s),
                postgres: describe(p),
            });
            continue;
        };
        let things: BTreeSet<&Thing> = s.keys().chain(p.keys()).collect();
        for thing in things {
            let (Some(sa), Some(pa)) = (s.get(thing), p.get(thing)) else {
                differences.push(Difference {
                    table: name.clone(),
                    thing: thing.clone(),
                    aspect: None,
                    sqlite: s.get(thing).map(|a| summary(a)),
                    postgres: p.get(thing).map(|a| summary(a)),
                });
                continue;
            };
            let aspects: BTreeSet<&'static str> = sa
                .iter()
                .chain(pa.iter())
                .map(|(aspect, _)| *aspect)
                .collect();
            for aspect in aspects {
                let find = |values: &[(&'static str, Value)]| {
                    values
                        .iter()
                        .find(|(a, _)| *a == aspect)
                        .map(|(_, v)| v.clone())
                };
                let (sv, pv) = (find(sa), find(pa));
                if sv.as_ref().map(|v| &v.compared) != pv.as_ref().map(|v| &v.compared) {
                    differences.push(Difference {
                        table: name.clone(),
                        thing: thing.clone(),
                        aspect: Some(aspect),
                        sqlite: sv.map(|v| v.shown),
                        postgres: pv.map(|v| v.shown),
                    });
                }
            }
        }
    }
    differences
}

fn count_columns(table: &Table) -> usize {
    table.keys().filter(|t| t.kind == Kind::Column).count()
}

/// The differences, table by table, with what each backend has.
fn report(differences: &[&Difference]) -> String {
    let mut out = format!(
        "the SQLite and PostgreSQL migrations give different schemas ({} difference{}):\n",
        differences.len(),
        if differences.len() == 1 { "" } else { "s" }
    );
    let mut table = None;
    for d in differences {
        if table != Some(&d.table) {
            out.push_str(&format!("\n{}\n", d.table));
            table = Some(&d.table);
        }
        let aspect = d.aspect.map(|a| format!(", {a}")).unwrap_or_default();
        out.push_str(&format!(
            "  {}{aspect}\n      sqlite:   {}\n      postgres: {}\n",
            d.thing,
            d.sqlite.as_deref().unwrap_or(NONE),
            d.postgres.as_deref().unwrap_or(NONE)
        ));
    }
    out.push_str(
        "\nA drift is fixed by a NEW migration on the backend that lacks the change; a deliberate \
         difference goes on ALLOWED in tests/e2e/migrations.rs, with its reason.\n",
    );
    out
}

// --- SQL text: conditions, defaults, index columns --------------------------------------------

/// SQL as a tree: tokens, and parenthesized groups of them.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Token(String),
    Group(Vec<Node>),
}

/// The tokens of `sql` with comments dropped: words and quoted identifiers lower-cased (and
/// unquoted), string literals as written, `::type` casts (PostgreSQL prints them) left out.
fn tokens(sql: &str) -> Vec<String> {
    let mut chars = sql.chars().peekable();
    let mut out = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek() == Some(&'-') => {
                chars.by_ref().find(|&c| c == '\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                chars
                    .by_ref()
                    .find(|&c| std::mem::replace(&mut last, c) == '*' && c == '/');
            }
            '\'' | '"' => {
                let mut text = String::new();
                while let Some(next) = chars.next() {
                    // A doubled quote stands for itself.
                    if next == c && chars.next_if_eq(&c).is_none() {
                        break;
                    }
                    text.push(next);
                }
                out.push(if c == '"' {
                    text.to_lowercase()
                } else {
                    format!("'{}'", text.replace('\'', "''"))
                });
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = c.to_string();
                while let Some(next) =
                    chars.next_if(|n| n.is_alphanumeric() || matches!(n, '_' | '$' | '.'))
                {
                    word.push(next);
                }
                out.push(word.to_lowercase());
            }
            _ => {
                let pair = chars.peek().map(|next| format!("{c}{next}"));
                match pair {
                    Some(pair)
                        if matches!(pair.as_str(), "::" | "<>" | "!=" | "<=" | ">=" | "||") =>
                    {
                        chars.next();
                        out.push(pair);
                    }
                    _ => out.push(c.to_string()),
                }
            }
        }
    }
    drop_casts(out)
}

fn drop_casts(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        if token != "::" {
            out.push(token);
            continue;
        }
        let ty = iter.next().unwrap_or_default();
        if matches!(ty.as_str(), "double" | "character")
            && iter
                .peek()
                .is_some_and(|t| t == "precision" || t == "varying")
        {
            iter.next();
        }
    }
    out
}

fn tree(tokens: &mut std::slice::Iter<'_, String>) -> Vec<Node> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.next() {
        match token.as_str() {
            "(" => nodes.push(Node::Group(tree(tokens))),
            ")" => break,
            _ => nodes.push(Node::Token(token.clone())),
        }
    }
    nodes
}

/// `sql` as a tree of tokens.
fn parse(sql: &str) -> Vec<Node> {
    tree(&mut tokens(sql).iter())
}

fn is_word(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Drops the parentheses PostgreSQL adds when it prints a condition (around the whole of it and
/// around each comparison). Parentheses that group `AND`/`OR`, lists and function arguments stay;
/// others go, so `(a + b) * c` and `a + b * c` are not told apart (no migration's condition
/// depends on that).
fn simplify(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for node in nodes {
        match node {
            Node::Group(inner) => {
                let inner = simplify(inner);
                let after_word = matches!(
                    out.last(),
                    Some(Node::Token(t)) if is_word(t) && !matches!(t.as_str(), "and" | "or" | "not")
                );
                let groups = inner.iter().any(
                    |n| matches!(n, Node::Token(t) if matches!(t.as_str(), "and" | "or" | ",")),
                );
                if after_word || groups {
                    out.push(Node::Group(inner));
                } else {
                    out.extend(inner);
                }
            }
            token => out.push(token),
        }
    }
    while let [Node::Group(_)] = out.as_slice() {
        if let Some(Node::Group(inner)) = out.pop() {
            out = inner;
        }
    }
    out
}

fn render(nodes: &[Node]) -> String {
    let parts: Vec<String> = nodes
        .iter()
        .map(|node| match node {
            Node::Token(token) => token.clone(),
            Node::Group(inner) => format!("({})", render(inner)),
        })
        .collect();
    parts.join(" ")
}

/// A condition (or expression) normalized as far as both backends can agree on its text.
fn condition(sql: &str) -> String {
    render(&simplify(parse(sql)))
}

fn condition_of(nodes: &[Node]) -> String {
    render(&simplify(nodes.to_vec()))
}

/// The conditions of the `CHECK (...)` clauses in a `CREATE TABLE` (or in PostgreSQL's
/// `pg_get_constraintdef`).
fn checks(sql: &str) -> Vec<String> {
    let nodes = parse(sql);
    let mut found = Vec::new();
    collect_checks(&nodes, &mut found);
    found
}

fn collect_checks(nodes: &[Node], found: &mut Vec<String>) {
    for (i, node) in nodes.iter().enumerate() {
        match node {
            Node::Token(t) if t == "check" => {
                if let Some(Node::Group(inner)) = nodes.get(i + 1) {
                    found.push(condition_of(inner));
                }
            }
            Node::Group(inner) => collect_checks(inner, found),
            Node::Token(_) => {}
        }
    }
}

/// The partial-index condition of a `CREATE INDEX`, if any.
fn index_predicate(sql: &str) -> Option<String> {
    let nodes = parse(sql);
    let at = nodes
        .iter()
        .position(|n| matches!(n, Node::Token(t) if t == "where"))?;
    Some(condition_of(&nodes[at + 1..]))
}

/// The `n`th (0-based) indexed expression of a `CREATE INDEX`, without ordering or collation.
fn index_expression(sql: &str, n: usize) -> Option<String> {
    let nodes = parse(sql);
    let Node::Group(list) = nodes.iter().find(|n| matches!(n, Node::Group(_)))? else {
        return None;
    };
    let mut element = list
        .split(|n| matches!(n, Node::Token(t) if t == ","))
        .nth(n)?
        .to_vec();
    if let Some(at) = element
        .iter()
        .position(|n| matches!(n, Node::Token(t) if t == "collate"))
    {
        element.truncate(at);
    }
    if matches!(element.last(), Some(Node::Token(t)) if t == "asc" || t == "desc") {
        element.pop();
    }
    Some(condition_of(&element))
}

// --- SQLite -----------------------------------------------------------------------------------

async fn migrated_sqlite(dir: &Path) -> PathBuf {
    let path = dir.join("schema.db");
    let store = Store::open(&DatabaseConfig {
        url: format!("sqlite://{}", path.display()),
        ..DatabaseConfig::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    path
}

async fn sqlite_connection(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

/// SQLite's schema, from `sqlite_master` and the `table_info`, `index_list`, `index_xinfo` and
/// `foreign_key_list` pragmas.
async fn sqlite_schema(conn: &mut SqliteConnection) -> Schema {
    let objects: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT type, name, tbl_name, sql FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut sql_of = BTreeMap::new();
    for (kind, name, _, sql) in &objects {
        assert!(
            kind == "table" || kind == "index",
            "the SQLite migrations create {kind} {name}: this test compares tables and indexes only, \
             extend it"
        );
        let sql = sql.clone().unwrap_or_default();
        assert!(
            !tokens(&sql).iter().any(|t| t == "collate"),
            "{name} declares a collation on SQLite: this test takes every SQLite column as BINARY, \
             extend it"
        );
        sql_of.insert(name.clone(), sql);
    }
    let mut schema = Schema::default();
    for (kind, name, _, _) in &objects {
        if kind == "table" {
            let table = sqlite_table(conn, name, &sql_of).await;
            schema.tables.insert(name.clone(), table);
        }
    }
    schema
}

async fn sqlite_table(
    conn: &mut SqliteConnection,
    name: &str,
    sql_of: &BTreeMap<String, String>,
) -> Table {
    let mut table = Table::new();
    let sql = sql_of.get(name).cloned().unwrap_or_default();

    let (without_rowid, strict): (bool, bool) = sqlx::query_as(
        "SELECT wr, strict FROM pragma_table_list WHERE schema = 'main' AND name = $1",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let flags = [(without_rowid, "without rowid"), (strict, "strict")];
    let flags = flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, o)| (*o).to_owned());
    table.insert(Thing::new(Kind::Table, ""), options(flags.collect()));

    let columns: Vec<(String, String, bool, Option<String>, i64)> = sqlx::query_as(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1) ORDER BY cid",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut primary_key: Vec<(i64, String)> = columns
        .iter()
        .filter(|c| c.4 > 0)
        .map(|c| (c.4, c.0.clone()))
        .collect();
    primary_key.sort();
    let primary_key: Vec<String> = primary_key.into_iter().map(|(_, c)| c).collect();
    // `INTEGER PRIMARY KEY` is the rowid: never null, assigned when not given.
    let rowid_alias = match primary_key.as_slice() {
        [only]
            if !without_rowid
                && columns
                    .iter()
                    .any(|c| &c.0 == only && c.1.eq_ignore_ascii_case("INTEGER")) =>
        {
            Some(only.clone())
        }
        _ => None,
    };
    for (column, ty, not_null, default, _) in &columns {
        let declared = ty.to_uppercase();
        let is_rowid = rowid_alias.as_ref() == Some(column);
        let default = if is_rowid {
            // Without AUTOINCREMENT, the id of a deleted last row is given out again.
            if tokens(&sql).iter().any(|t| t == "autoincrement") {
                Value::new("generated", "rowid (AUTOINCREMENT)")
            } else {
                Value::new("generated, reusing a deleted last id", "rowid")
            }
        } else {
            default_value(default.as_deref())
        };
        let collation = (declared == "TEXT").then(|| Value::new("bytes", "BINARY"));
        table.insert(
            Thing::new(Kind::Column, column),
            column_aspects(
                Value::new(declared.clone(), ty.clone()),
                *not_null || is_rowid,
                default,
                collation,
            ),
        );
    }
    if !primary_key.is_empty() {
        table.insert(
            Thing::new(Kind::PrimaryKey, ""),
            vec![("columns", Value::plain(column_list(&primary_key)))],
        );
    }

    let indexes: Vec<(String, bool, String, bool)> =
        sqlx::query_as("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
            .bind(name)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    for (index_name, is_unique, origin, partial) in indexes {
        let keys: Vec<(i64, Option<String>, bool)> = sqlx::query_as(
            "SELECT cid, name, \"desc\" FROM pragma_index_xinfo($1) WHERE key = 1 ORDER BY seqno",
        )
        .bind(&index_name)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let index_sql = sql_of.get(&index_name).cloned().unwrap_or_default();
        let keys: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(n, (_, column, desc))| {
                let key = column.clone().unwrap_or_else(|| {
                    index_expression(&index_sql, n).unwrap_or_else(|| "(expression)".to_owned())
                });
                if *desc { format!("{key} DESC") } else { key }
            })
            .collect();
        match origin.as_str() {
            // The primary key's own index (of a table that is not a rowid one): seen above.
            "pk" => {}
            "u" => {
                table.insert(Thing::new(Kind::Unique, column_list(&keys)), vec![]);
            }
            _ => {
                let predicate = if partial {
                    let predicate = index_predicate(&index_sql)
                        .unwrap_or_else(|| panic!("no WHERE found in {index_sql}"));
                    let shown = index_sql
                        .to_ascii_lowercase()
                        .rfind("where")
                        .map(|at| index_sql[at + 5..].trim().to_owned())
                        .unwrap_or_default();
                    Value::new(predicate, shown)
                } else {
                    Value::plain("none")
                };
                table.insert(
                    Thing::new(Kind::Index, &index_name),
                    index_aspects(keys, is_unique, predicate, "btree"),
                );
            }
        }
    }

    let keys: Vec<(i64, String, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
         FROM pragma_foreign_key_list($1) ORDER BY id, seq",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut by_id: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for key in keys {
        by_id.entry(key.0).or_default().push(key);
    }
    for parts in by_id.values() {
        let from: Vec<String> = parts.iter().map(|p| p.2.clone()).collect();
        let (_, target, _, _, on_update, on_delete) = &parts[0];
        let mut to: Vec<String> = parts.iter().filter_map(|p| p.3.clone()).collect();
        if to.is_empty() {
            // `REFERENCES t` without columns: t's primary key.
            let pk: Vec<(String, i64)> = sqlx::query_as(
                "SELECT name, pk FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk",
            )
            .bind(target)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            to = pk.into_iter().map(|(c, _)| c).collect();
        }
        table.insert(
            Thing::new(Kind::ForeignKey, column_list(&from)),
            foreign_key_aspects(target, &to, on_update, on_delete),
        );
    }

    for check in checks(&sql) {
        table.insert(Thing::new(Kind::Check, check), vec![]);
    }
    table
}

// --- PostgreSQL -------------------------------------------------------------------------------

async fn migrated_postgres(url: &str) -> String {
    let schema = format!("migrations_{}", uuid::Uuid::now_v7().simple());
    let store = Store::open(&DatabaseConfig {
        url: url.to_owned(),
        schema: schema.clone(),
        ..DatabaseConfig::default()
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    schema
}

const PG_ACTIONS: &[(&str, &str)] = &[
    ("a", "NO ACTION"),
    ("r", "RESTRICT"),
    ("c", "CASCADE"),
    ("n", "SET NULL"),
    ("d", "SET DEFAULT"),
];

fn pg_action(code: &str) -> String {
    PG_ACTIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, action)| (*action).to_owned())
}

/// PostgreSQL's schema `schema`, from `information_schema` (tables, columns) and `pg_catalog`
/// (options, indexes, constraints).
async fn postgres_schema(conn: &mut PgConnection, schema: &str) -> Schema {
    let others: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relkind::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('v', 'm', 'f') \
         UNION ALL \
         SELECT t.tgname::text, 'trigger' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND NOT t.tgisinternal",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(
        others.is_empty(),
        "the PostgreSQL migrations create {others:?}: this test compares tables and indexes only, \
         extend it"
    );

    let mut out = Schema::default();
    let tables: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.relkind::text, c.relpersistence::text, \
                COALESCE(array_to_string(c.reloptions, ', '), '') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (name, kind, persistence, reloptions) in tables {
        let mut flags = Vec::new();
        if kind == "p" {
            flags.push("partitioned".to_owned());
        }
        if persistence == "u" {
            flags.push("unlogged".to_owned());
        }
        flags.extend(Some(reloptions).filter(|o| !o.is_empty()));
        let table = Table::from([(Thing::new(Kind::Table, ""), options(flags))]);
        out.tables.insert(name, table);
    }

    let columns = sqlx::query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                data_type::text AS data_type, is_nullable::text AS is_nullable, \
                column_default::text AS column_default, is_identity::text AS is_identity, \
                identity_generation::text AS identity_generation, \
                collation_name::text AS collation_name \
         FROM information_schema.columns WHERE table_schema = $1 ORDER BY ordinal_position",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for row in columns {
        let name: String = row.get("table_name");
        let Some(table) = out.tables.get_mut(&name) else {
            continue;
        };
        let data_type: String = row.get("data_type");
        let default: Option<String> = row.get("column_default");
        let identity = row.get::<String, _>("is_identity") == "YES";
        let generation: Option<String> = row.get("identity_generation");
        let mapped = TYPES.iter().find(|(pg, _)| *pg == data_type).map_or_else(
            || format!("postgres {data_type}"),
            |(_, sqlite)| (*sqlite).to_owned(),
        );
        let default = if identity {
            Value::new(
                "generated",
                format!("GENERATED {} AS IDENTITY", generation.unwrap_or_default()),
            )
        } else if let Some(d) = default.as_deref().filter(|d| d.starts_with("nextval(")) {
            Value::new("generated", d)
        } else {
            default_value(default.as_deref())
        };
        let collation = (mapped == "TEXT").then(|| {
            match row.get::<Option<String>, _>("collation_name").as_deref() {
                None => Value::new("database default", "default"),
                Some(c @ ("C" | "POSIX")) => Value::new("bytes", format!("\"{c}\"")),
                Some(other) => Value::plain(format!("\"{other}\"")),
            }
        });
        table.insert(
            Thing::new(Kind::Column, row.get::<String, _>("column_name")),
            column_aspects(
                Value::new(mapped, data_type),
                row.get::<String, _>("is_nullable") == "NO",
                default,
                collation,
            ),
        );
    }

    let constraints = sqlx::query(
        "SELECT t.relname::text AS table_name, k.contype::text AS kind, \
                pg_get_constraintdef(k.oid) AS definition, \
                ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord) \
                      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum \
                      ORDER BY u.ord) AS columns, \
                COALESCE(CASE WHEN fn.nspname = $1 THEN f.relname::text \
                              ELSE fn.nspname || '.' || f.relname END, '') AS target, \
                ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord) \
                      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum \
                      ORDER BY u.ord) AS target_columns, \
                k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete \
         FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         LEFT JOIN pg_class f ON f.oid = k.confrelid \
         LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace \
         WHERE n.nspname = $1",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for row in constraints {
        let name: String = row.get("table_name");
        let Some(table) = out.tables.get_mut(&name) else {
            continue;
        };
        let columns: Vec<String> = row.get("columns");
        let definition: String = row.get("definition");
        match row.get::<String, _>("kind").as_str() {
            "p" => {
                table.insert(
                    Thing::new(Kind::PrimaryKey, ""),
                    vec![("columns", Value::plain(column_list(&columns)))],
                );
            }
            "u" => {
                table.insert(Thing::new(Kind::Unique, column_list(&columns)), vec![]);
            }
            "f" => {
                table.insert(
                    Thing::new(Kind::ForeignKey, column_list(&columns)),
                    foreign_key_aspects(
                        &row.get::<String, _>("target"),
                        &row.get::<Vec<String>, _>("target_columns"),
                        &pg_action(&row.get::<String, _>("on_update")),
                        &pg_action(&row.get::<String, _>("on_delete")),
                    ),
                );
            }
            "c" => {
                for check in checks(&definition) {
                    table.insert(Thing::new(Kind::Check, check), vec![]);
                }
            }
            // NOT NULL (PostgreSQL 18 lists it here too): compared with the columns.
            "n" => {}
            _ => {
                table.insert(Thing::new(Kind::Constraint, definition), vec![]);
            }
        }
    }

    let indexes = sqlx::query(
        "SELECT t.relname::text AS table_name, c.relname::text AS index_name, \
                i.indisunique AS is_unique, am.amname::text AS method, \
                COALESCE(pg_get_expr(i.indpred, i.indrelid), '') AS predicate, \
                ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) || \
                             CASE WHEN i.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END \
                      FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS keys, \
                ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) \
                      FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k ORDER BY k) AS included \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_am am ON am.oid = c.relam \
         WHERE n.nspname = $1 AND NOT EXISTS ( \
             SELECT 1 FROM pg_constraint k \
             WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid \
               AND k.contype IN ('p', 'u', 'x'))",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for row in indexes {
        let name: String = row.get("table_name");
        let Some(table) = out.tables.get_mut(&name) else {
            continue;
        };
        let predicate: String = row.get("predicate");
        let predicate = if predicate.is_empty() {
            Value::plain("none")
        } else {
            Value::new(condition(&predicate), predicate)
        };
        let keys: Vec<String> = row
            .get::<Vec<String>, _>("keys")
            .iter()
            .map(|key| match key.strip_suffix(" DESC") {
                Some(expression) => format!("{} DESC", condition(expression)),
                None => condition(key),
            })
            .collect();
        let mut aspects = index_aspects(
            keys,
            row.get("is_unique"),
            predicate,
            &row.get::<String, _>("method"),
        );
        let included: Vec<String> = row.get("included");
        if !included.is_empty() {
            aspects.push(("include", Value::plain(column_list(&included))));
        }
        table.insert(
            Thing::new(Kind::Index, row.get::<String, _>("index_name")),
            aspects,
        );
    }
    out
}

// --- the tests --------------------------------------------------------------------------------

async fn postgres_connection(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

/// The differences no [`ALLOWED`] entry explains.
fn unexpected(differences: &[Difference]) -> Vec<&Difference> {
    differences
        .iter()
        .filter(|d| !ALLOWED.iter().any(|a| a.matches(d)))
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_give_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = migrated_sqlite(dir.path()).await;
    let sqlite = sqlite_schema(&mut sqlite_connection(&path).await).await;
    assert!(sqlite.tables.contains_key("calls"), "{sqlite:?}");
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let schema = migrated_postgres(&url).await;
    let postgres = postgres_schema(&mut postgres_connection(&url).await, &schema).await;
    assert!(postgres.tables.contains_key("calls"), "{postgres:?}");

    let differences = compare(&sqlite, &postgres);
    let unexpected = unexpected(&differences);
    assert!(unexpected.is_empty(), "{}", report(&unexpected));
    let unused: Vec<&str> = ALLOWED
        .iter()
        .filter(|a| !differences.iter().any(|d| a.matches(d)))
        .map(|a| a.reason)
        .collect();
    assert!(
        unused.is_empty(),
        "ALLOWED entries no difference needs any more (remove them): {unused:#?}"
    );
}

#[tokio::test]
async fn a_drift_is_reported_with_what_each_backend_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = sqlite_connection(&migrated_sqlite(dir.path()).await).await;
    sqlx::raw_sql(
        "CREATE INDEX calls_by_summary ON calls (summary); \
         ALTER TABLE calls ADD COLUMN extra TEXT;",
    )
    .execute(&mut sqlite)
    .await
    .unwrap();
    let Some(url) = test_database_url() else {
        eprintln!("skipped: needs TEST_DATABASE_URL (PostgreSQL)");
        return;
    };
    let schema = migrated_postgres(&url).await;
    let mut postgres = postgres_connection(&url).await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET search_path TO {schema}; \
         ALTER TABLE calls ALTER COLUMN first_message SET NOT NULL; \
         DROP INDEX calls_by_status; \
         CREATE INDEX calls_by_status ON calls (status) WHERE status <> 'completed';"
    )))
    .execute(&mut postgres)
    .await
    .unwrap();

    let differences = compare(
        &sqlite_schema(&mut sqlite).await,
        &postgres_schema(&mut postgres, &schema).await,
    );
    let unexpected = unexpected(&differences);
    let report = report(&unexpected);
    assert_eq!(unexpected.len(), 5, "{report}");
    for expected in [
        "\ncalls\n",
        "  column extra\n      sqlite:   type TEXT, null NULL, default none, collation BINARY\n      postgres: (none)\n",
        "  index calls_by_summary\n      sqlite:   columns (summary), unique no, where none, method btree\n      postgres: (none)\n",
        "  column first_message, null\n      sqlite:   NULL\n      postgres: NOT NULL\n",
        "  index calls_by_status, columns\n      sqlite:   (status, id)\n      postgres: (status)\n",
        "  index calls_by_status, where\n      sqlite:   none\n      postgres: (status <> 'completed'::text)\n",
    ] {
        assert!(report.contains(expected), "{expected:?} not in:\n{report}");
    }
}

#[test]
fn conditions_compare_as_written_and_as_postgres_prints_them() {
    for (written, printed) in [
        (
            "provider_call_id IS NOT NULL",
            "(provider_call_id IS NOT NULL)",
        ),
        ("outcome = 'applied'", "(outcome = 'applied'::text)"),
        (
            "(cost IS NULL) = (cost_unit IS NULL)",
            "((cost IS NULL) = (cost_unit IS NULL))",
        ),
        (
            "a = 1 AND b <> 'x' -- why",
            "((a = 1) AND (b <> 'x'::character varying))",
        ),
        ("(a = 1 OR b = 2) AND c", "(((a = 1) OR (b = 2)) AND c)"),
        ("lower(\"Name\") = 'x'", "(lower(name) = 'x'::text)"),
        ("a <> 'it''s' /* why */", "(a <> 'it''s'::text)"),
    ] {
        assert_eq!(
            condition(written),
            condition(printed),
            "{written} / {printed}"
        );
    }
    assert_ne!(condition("(a OR b) AND c"), condition("a OR (b AND c)"));
    assert_eq!(
        default_value(Some("false")).compared,
        default_value(Some("0")).compared
    );
    assert_eq!(
        checks("CREATE TABLE t (a INTEGER CHECK (a > 0), -- no CHECK (here)\n b TEXT)"),
        ["a > 0"]
    );
    assert_eq!(
        index_predicate("CREATE INDEX i ON t (a) WHERE a IS NOT NULL").as_deref(),
        Some("a is not null")
    );
    assert_eq!(
        index_expression("CREATE INDEX i ON t (a, lower(b) DESC)", 1).as_deref(),
        Some("lower (b)")
    );
}
