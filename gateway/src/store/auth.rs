//! Users, refresh tokens, API keys and the audit log.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::codec::{parse_ts, ts};
use super::sql::{Statement, flag};
use super::{Store, StoreError};

/// A stored user (the password hash stays in the store unless asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    /// Bumped whenever the user's tokens are revoked; access tokens carry the generation they
    /// were issued in and are refused once it changes.
    pub token_generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new user, password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<String>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshLookup {
    /// Unknown or expired token.
    Invalid,
    /// A token that was already used or revoked: the family is now revoked.
    Reused { user_id: String },
    /// A live token, now retired; issue the next one in `family_id`.
    Rotated { user_id: String, family_id: String },
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Filters for the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<String>,
    pub outcome: Option<String>,
    pub before_id: Option<String>,
    pub limit: u32,
}

const USER_COLUMNS: &str =
    "id, username, email, role, disabled, token_generation, created_at, updated_at";

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        role: row.try_get("role")?,
        disabled: flag(row, "disabled")?,
        token_generation: row.try_get("token_generation")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&row.try_get::<String, _>("updated_at")?)?,
    })
}

fn opt_ts(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<String>, _>(column)?
        .as_deref()
        .map(parse_ts)
        .transpose()
}

fn api_key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        role: row.try_get("role")?,
        created_by: row.try_get("created_by")?,
        created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        expires_at: opt_ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        last_used_at: opt_ts(row, "last_used_at")?,
    })
}

/// Whether an insert failed on a unique constraint (a taken username, email, ...).
pub fn is_conflict(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
}

impl Store {
    pub async fn create_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        self.retrying("create_user", || async {
            let now = Utc::now();
            let id = uuid::Uuid::now_v7().to_string();
            self.execute_write(sqlx::query(
                "INSERT INTO users (id, username, email, password_hash, role, disabled, token_generation, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, FALSE, 0, $6, $7)",
            )
            .bind(&id)
            .bind(&user.username)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(&user.role)
            .bind(ts(now))
            .bind(ts(now))
            )
            .await?;
            self.user_by_id(&id)
                .await?
                .ok_or_else(|| StoreError::Corrupt("user vanished after insert".into()))
        })
        .await
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.retrying("user_by_id", || async {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
            row.as_ref().map(user_from_row).transpose()
        })
        .await
    }

    /// The user an access token names, and whether the token's login (`family`, its `sid`) was
    /// revoked.
    pub async fn user_for_access_token(
        &self,
        id: &str,
        family: Option<&str>,
    ) -> Result<Option<(UserRecord, bool)>, StoreError> {
        self.retrying("user_for_access_token", || async {
            let sql = format!(
                "SELECT {USER_COLUMNS}, EXISTS (SELECT 1 FROM revoked_token_families \
                 WHERE family_id = $2 AND expires_at > $3) AS family_revoked FROM users WHERE id = $1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(family.unwrap_or(""))
                .bind(ts(Utc::now()))
                .fetch_optional(&self.reader)
                .await?;
            row.map(|row| Ok((user_from_row(&row)?, flag(&row, "family_revoked")?)))
                .transpose()
        })
        .await
    }

    /// The user whose username or email is `login` (case-insensitive), with its password hash.
    pub async fn user_for_login(
        &self,
        login: &str,
    ) -> Result<Option<(UserRecord, String)>, StoreError> {
        self.retrying("user_for_login", || async {
            let sql = format!(
                "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1 OR email = $2"
            );
            let login = login.trim().to_lowercase();
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&login)
                .bind(&login)
                .fetch_optional(&self.reader)
                .await?;
            row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
                .transpose()
        })
        .await
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.retrying("list_users", || async {
            let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&self.reader)
                .await?;
            rows.iter().map(user_from_row).collect()
        })
        .await
    }

    /// Applies `change`. Disabling a user or changing the password also revokes every token they
    /// hold: refresh tokens directly, access tokens by bumping the token generation.
    pub async fn update_user(
        &self,
        id: &str,
        change: &UserChange,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.retrying("update_user", || async {
            let now = Utc::now();
            let revoke = change.disabled == Some(true) || change.password_hash.is_some();
            let mut tx = self.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE users SET role = COALESCE($1, role), disabled = COALESCE($2, disabled), \
                 password_hash = COALESCE($3, password_hash), \
                 token_generation = token_generation + CASE WHEN $4 THEN 1 ELSE 0 END, updated_at = $5 WHERE id = $6",
            )
            .bind(&change.role)
            .bind(change.disabled)
            .bind(&change.password_hash)
            .bind(revoke)
            .bind(ts(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(None);
            }
            if revoke {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(ts(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            self.user_by_id(id).await
        })
        .await
        .inspect(|user| {
            if user.is_some() {
                self.credentials_revoked(id);
            }
        })
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        self.retrying("count_users", || async {
            Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
                .fetch_one(&self.reader)
                .await?
                .try_get("n")?)
        })
        .await
    }

    /// Stores a refresh token's hash in `family_id`.
    pub async fn insert_refresh_token(
        &self,
        user_id: &str,
        family_id: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retrying("insert_refresh_token", || async {
            self.execute_write(sqlx::query(
                "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(family_id)
            .bind(user_id)
            .bind(token_hash)
            .bind(ts(Utc::now()))
            .bind(ts(expires_at))
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Retires a presented refresh token (one use each). Presenting one already used or revoked
    /// revokes its whole family, its access tokens until `deny_until` too: someone else has a
    /// copy.
    pub async fn use_refresh_token(
        &self,
        token_hash: &str,
        deny_until: DateTime<Utc>,
    ) -> Result<RefreshLookup, StoreError> {
        self.retrying("use_refresh_token", || async {
            let now = Utc::now();
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens \
                     WHERE token_hash = $1{}",
                self.backend.for_update()
            )))
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(RefreshLookup::Invalid);
            };
            let family_id: String = row.try_get("family_id")?;
            let user_id: String = row.try_get("user_id")?;
            if opt_ts(&row, "used_at")?.is_some() {
                // Used before: someone else holds a copy.
                revoke_family(&mut tx, &family_id, now, deny_until).await?;
                tx.commit().await?;
                return Ok(RefreshLookup::Reused { user_id });
            }
            if opt_ts(&row, "revoked_at")?.is_some() {
                return Ok(RefreshLookup::Invalid);
            }
            if parse_ts(&row.try_get::<String, _>("expires_at")?)? <= now {
                return Ok(RefreshLookup::Invalid);
            }
            sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2")
                .bind(ts(now))
                .bind(token_hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(RefreshLookup::Rotated { user_id, family_id })
        })
        .await
        .inspect(|lookup| {
            if let RefreshLookup::Reused { user_id } = lookup {
                self.credentials_revoked(user_id);
            }
        })
    }

    /// Revokes the family of a refresh token (logout), its access tokens until `deny_until`
    /// too. Returns the token's user, if known.
    pub async fn revoke_refresh_family(
        &self,
        token_hash: &str,
        deny_until: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.retrying("revoke_refresh_family", || async {
            let mut tx = self.begin_write().await?;
            let row =
                sqlx::query("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let family_id: String = row.try_get("family_id")?;
            revoke_family(&mut tx, &family_id, Utc::now(), deny_until).await?;
            tx.commit().await?;
            Ok(Some(row.try_get::<String, _>("user_id")?))
        })
        .await
        .inspect(|user| {
            if let Some(user_id) = user {
                self.credentials_revoked(user_id);
            }
        })
    }

    pub async fn create_api_key(
        &self,
        name: &str,
        prefix: &str,
        key_hash: &str,
        role: &str,
        created_by: Option<&str>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiKeyRecord, StoreError> {
        self.retrying("create_api_key", || async {
            let id = uuid::Uuid::now_v7().to_string();
            self.execute_write(sqlx::query(
                "INSERT INTO api_keys (id, name, prefix, key_hash, role, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(name)
            .bind(prefix)
            .bind(key_hash)
            .bind(role)
            .bind(created_by)
            .bind(ts(Utc::now()))
            .bind(expires_at.map(ts))
            )
            .await?;
            self.api_key(&id)
                .await?
                .ok_or_else(|| StoreError::Corrupt("API key vanished after insert".into()))
        })
        .await
    }

    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.retrying("api_key", || async {
            let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
            row.as_ref().map(api_key_from_row).transpose()
        })
        .await
    }

    /// The live key with this hash: not revoked, not expired, and, if a user created it, that
    /// user is enabled (`created_by` may also be an API key's id, or empty for a key
    /// bootstrapped directly). A key stops working while its creator is disabled, and works
    /// again once the creator is enabled.
    pub async fn api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.retrying("api_key_by_hash", || async {
            let row = sqlx::query(
                "SELECT k.* FROM api_keys k LEFT JOIN users u ON u.id = k.created_by \
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2) \
                 AND (u.id IS NULL OR NOT u.disabled)",
            )
                .bind(key_hash)
                .bind(ts(Utc::now()))
                .fetch_optional(&self.reader)
                .await?;
            row.as_ref().map(api_key_from_row).transpose()
        })
        .await
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.retrying("list_api_keys", || async {
            let rows = sqlx::query("SELECT * FROM api_keys ORDER BY id DESC")
                .fetch_all(&self.reader)
                .await?;
            rows.iter().map(api_key_from_row).collect()
        })
        .await
    }

    /// Records that a key was used at `at`, unless a use since `unless_since` is recorded (so
    /// instances sharing the database write it about once per interval, not per request).
    pub async fn record_api_key_use(
        &self,
        id: &str,
        at: DateTime<Utc>,
        unless_since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.retrying("record_api_key_use", || async {
            self.execute_write(
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
                 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(ts(at))
                .bind(id)
                .bind(ts(unless_since)),
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Revokes a key; `false` if there is no such key.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        self.retrying("revoke_api_key", || async {
            let done = self
                .execute_write(
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                    )
                    .bind(ts(Utc::now()))
                    .bind(id),
                )
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
        .inspect(|&revoked| {
            if revoked {
                self.credentials_revoked(id);
            }
        })
    }

    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.retrying("append_audit", || async {
            self.execute_write(sqlx::query(
                "INSERT INTO audit_log (id, at, actor_type, actor_id, actor_name, action, target, client_addr, \
                 request_id, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&entry.id)
            .bind(ts(entry.at))
            .bind(&entry.actor_type)
            .bind(&entry.actor_id)
            .bind(&entry.actor_name)
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(&entry.client_addr)
            .bind(&entry.request_id)
            .bind(&entry.outcome)
            .bind(&entry.detail)
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// The audit log, newest first.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        self.retrying("list_audit", || async {
            let mut query = Statement::new("SELECT * FROM audit_log WHERE 1 = 1");
            query
                .and("action", "=", filter.action.clone())
                .and("actor_id", "=", filter.actor_id.clone())
                .and("outcome", "=", filter.outcome.clone())
                .and("id", "<", filter.before_id.clone())
                .push(" ORDER BY id DESC LIMIT ")
                .bind(i64::from(filter.limit) + 1);
            let rows = query.build().fetch_all(&self.reader).await?;
            let entries = rows
                .iter()
                .map(|row| {
                    Ok(AuditEntry {
                        id: row.try_get("id")?,
                        at: parse_ts(&row.try_get::<String, _>("at")?)?,
                        actor_type: row.try_get("actor_type")?,
                        actor_id: row.try_get("actor_id")?,
                        actor_name: row.try_get("actor_name")?,
                        action: row.try_get("action")?,
                        target: row.try_get("target")?,
                        client_addr: row.try_get("client_addr")?,
                        request_id: row.try_get("request_id")?,
                        outcome: row.try_get("outcome")?,
                        detail: row.try_get("detail")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let (entries, next) = super::page(entries, filter.limit, |e| e.id.clone());
            Ok((entries, next))
        })
        .await
    }
}

/// Revokes every refresh token of a family and lists the family as revoked until `deny_until`
/// (when its last access token has expired), pruning the entries already past theirs.
async fn revoke_family(
    conn: &mut sqlx::AnyConnection,
    family_id: &str,
    now: DateTime<Utc>,
    deny_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE family_id = $2",
    )
    .bind(ts(now))
    .bind(family_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM revoked_token_families WHERE expires_at <= $1")
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO revoked_token_families (family_id, revoked_at, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (family_id) DO UPDATE SET expires_at = excluded.expires_at",
    )
    .bind(family_id)
    .bind(ts(now))
    .bind(ts(deny_until))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
