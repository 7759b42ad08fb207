//! Secrets at rest: AES-256-GCM with keys from a JSON key file.
//!
//! Every service encrypts the secrets it stores (IdP client secrets, OAuth
//! tokens, webhook secrets, IBANs) with a [`Keyring`]. A sealed secret is the
//! id of the key that sealed it plus `nonce || ciphertext || tag`; services
//! store both, the ciphertext as base64url text ([`Sealed::ciphertext_b64`]).
//! The associated data (`aad`) names the secret's place, e.g.
//! `authProviders/{id}/client_secret`, so a ciphertext copied to another row
//! or column does not open.
//!
//! Keys live in a JSON key file, readable only by its owner:
//!
//! ```json
//! {"keys": [
//!   {"kid": "k-0193...", "key": "<base64url of 32 random bytes>"},
//!   {"kid": "k-0194...", "key": "<base64url of 32 random bytes>"}
//! ]}
//! ```
//!
//! The **last** key is the primary: new secrets are sealed with it; every
//! key opens what it sealed. Rotation: [`Keyring::add_generated_key`] (the new
//! key becomes primary), restart, re-seal what [`Keyring::needs_rotation`]
//! reports with [`Keyring::reseal`], then [`Keyring::remove_key`] the old
//! key. `loopbackd` creates a dev key file on first start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use serde::{Deserialize, Serialize};

/// Bytes of the random nonce in front of every ciphertext.
const NONCE_LEN: usize = 12;
/// Bytes of the GCM authentication tag at the end of every ciphertext.
const TAG_LEN: usize = 16;
/// Longest key id accepted.
const MAX_KID_LEN: usize = 128;

/// Why a key file is refused or a secret cannot be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A key file cannot be read, parsed or written, or holds a bad key.
    #[error("secret key file {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The secret was sealed with a key that is not in the keyring.
    #[error("secret key {0:?} is not in the keyring")]
    UnknownKey(String),
    /// Authentication failed: wrong key, tampered ciphertext or wrong `aad`.
    #[error("cannot decrypt secret: wrong key, tampered ciphertext or wrong associated data")]
    Decrypt,
    /// A stored secret is malformed (bad base64, too short, empty key id), or
    /// a secret cannot be sealed (too long, no OS randomness, not UTF-8).
    #[error("secret encoding: {0}")]
    Encoding(String),
}

/// A ciphertext with the id of the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Id of the sealing key.
    pub key_id: String,
    /// 12-byte random nonce || ciphertext || 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// base64url (no padding) of `ciphertext`, for a text column.
    pub fn ciphertext_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.ciphertext)
    }

    /// Rebuilds from the stored key id and base64 text.
    pub fn from_stored(key_id: &str, ciphertext_b64: &str) -> Result<Self, SecretsError> {
        if key_id.is_empty() {
            return Err(SecretsError::Encoding("the key id is empty".into()));
        }
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ciphertext_b64.trim_end_matches('='))
            .map_err(|e| SecretsError::Encoding(format!("ciphertext is not base64url: {e}")))?;
        check_len(&ciphertext)?;
        Ok(Self {
            key_id: key_id.to_string(),
            ciphertext,
        })
    }
}

fn check_len(ciphertext: &[u8]) -> Result<(), SecretsError> {
    if ciphertext.len() < NONCE_LEN + TAG_LEN {
        return Err(SecretsError::Encoding(format!(
            "ciphertext is {} bytes; a sealed secret has at least {}",
            ciphertext.len(),
            NONCE_LEN + TAG_LEN
        )));
    }
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    kid: String,
    key: String,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

struct Key {
    kid: String,
    cipher: Aes256Gcm,
}

struct Inner {
    /// In file order; the last is the primary. Never empty.
    keys: Vec<Key>,
}

/// AES-256-GCM keys by id; seals with the newest, opens with any. Cheap to
/// clone. `Debug` shows key ids only.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .field("primary", &self.primary_key_id())
            .finish()
    }
}

impl Keyring {
    /// Loads a key file: `{"keys":[{"kid":"k-...","key":"<base64url of 32
    /// bytes>"}, ...]}`; the LAST entry is the primary (newest) key. Errors
    /// name the file and what is wrong (bad JSON, key not 32 bytes, duplicate
    /// kid, no keys).
    pub fn from_key_file(path: &Path) -> Result<Self, SecretsError> {
        Self::from_key_files(&[path.to_path_buf()])
    }

    /// Several files, keys concatenated in order (last key of the last file is
    /// primary). Every file must hold at least one key; a kid may appear only
    /// once across all of them.
    pub fn from_key_files(paths: &[PathBuf]) -> Result<Self, SecretsError> {
        if paths.is_empty() {
            return Err(SecretsError::KeyFile {
                path: "(none)".into(),
                message: "no secret key files configured".into(),
            });
        }
        let mut keys: Vec<(String, [u8; 32])> = Vec::new();
        for path in paths {
            for (kid, key) in read_keys(path)? {
                if keys.iter().any(|(k, _)| *k == kid) {
                    return Err(file_err(path, format!("duplicate kid {kid:?}")));
                }
                keys.push((kid, key));
            }
        }
        Self::build(keys, "(key files)")
    }

    /// Builds from raw keys (tests): (kid, 32-byte key) pairs, last is
    /// primary.
    pub fn from_keys(keys: Vec<(String, [u8; 32])>) -> Result<Self, SecretsError> {
        Self::build(keys, "(in-memory keys)")
    }

    fn build(keys: Vec<(String, [u8; 32])>, origin: &str) -> Result<Self, SecretsError> {
        let err = |message: String| SecretsError::KeyFile {
            path: origin.to_string(),
            message,
        };
        if keys.is_empty() {
            return Err(err("no keys".into()));
        }
        let mut built: Vec<Key> = Vec::with_capacity(keys.len());
        for (kid, key) in keys {
            check_kid(&kid).map_err(&err)?;
            if built.iter().any(|k| k.kid == kid) {
                return Err(err(format!("duplicate kid {kid:?}")));
            }
            built.push(Key {
                cipher: Aes256Gcm::new(&key.into()),
                kid,
            });
        }
        Ok(Self {
            inner: Arc::new(Inner { keys: built }),
        })
    }

    /// Creates a key file with one fresh random key (mode 0600, create_new:
    /// never overwrite). Where the file system has hard links, the file
    /// appears complete or not at all.
    pub fn generate_key_file(path: &Path) -> Result<(), SecretsError> {
        let err = |message: String| file_err(path, message);
        if let Some(dir) = parent_dir(path) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let file = KeyFile {
            keys: vec![new_entry()?],
        };
        write_new(path, &encode_file(&file, path)?)
    }

    /// Appends a fresh random key to an existing key file (making it primary);
    /// returns its kid. Writes atomically (temp file + rename), keeps mode
    /// 0600. Not safe against a concurrent edit of the same file.
    pub fn add_generated_key(path: &Path) -> Result<String, SecretsError> {
        let mut file = read_file(path)?;
        decode_entries(path, &file)?;
        let entry = new_entry()?;
        let kid = entry.kid.clone();
        file.keys.push(entry);
        replace(path, &encode_file(&file, path)?)?;
        Ok(kid)
    }

    /// Removes a key (by kid) from a key file; refuses to remove the last
    /// remaining key. `UnknownKey` when the file has no such kid. Writes
    /// atomically like [`Keyring::add_generated_key`].
    pub fn remove_key(path: &Path, kid: &str) -> Result<(), SecretsError> {
        let mut file = read_file(path)?;
        decode_entries(path, &file)?;
        let Some(index) = file.keys.iter().position(|k| k.kid == kid) else {
            return Err(SecretsError::UnknownKey(kid.to_string()));
        };
        if file.keys.len() == 1 {
            return Err(file_err(
                path,
                format!("refusing to remove {kid:?}, the only key left"),
            ));
        }
        file.keys.remove(index);
        replace(path, &encode_file(&file, path)?)
    }

    /// Id of the key new secrets are sealed with.
    pub fn primary_key_id(&self) -> &str {
        &self.primary().kid
    }

    /// Every key id, oldest first (the last is the primary).
    pub fn key_ids(&self) -> Vec<String> {
        self.inner.keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// Encrypts under the primary key; `aad` binds the ciphertext to its
    /// context (e.g. "authProviders/{id}/client_secret") so it cannot be
    /// moved to another row.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, SecretsError> {
        let key = self.primary();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| SecretsError::Encoding(format!("no OS randomness for the nonce: {e}")))?;
        let body = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| {
                SecretsError::Encoding(format!(
                    "plaintext of {} bytes is too long",
                    plaintext.len()
                ))
            })?;
        let mut ciphertext = Vec::with_capacity(NONCE_LEN + body.len());
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(&body);
        Ok(Sealed {
            key_id: key.kid.clone(),
            ciphertext,
        })
    }

    /// Decrypts with the key named by `sealed.key_id`. `UnknownKey` when that
    /// key is not in the keyring; `Decrypt` when the key, ciphertext or `aad`
    /// does not match.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| SecretsError::UnknownKey(sealed.key_id.clone()))?;
        check_len(&sealed.ciphertext)?;
        let Some((nonce, body)) = sealed.ciphertext.split_first_chunk::<NONCE_LEN>() else {
            return Err(SecretsError::Decrypt);
        };
        key.cipher
            .decrypt(&Nonce::from(*nonce), Payload { msg: body, aad })
            .map_err(|_| SecretsError::Decrypt)
    }

    /// Convenience for UTF-8 secrets.
    pub fn seal_str(&self, plaintext: &str, aad: &str) -> Result<Sealed, SecretsError> {
        self.seal(plaintext.as_bytes(), aad.as_bytes())
    }

    /// Opens a secret sealed with [`Keyring::seal_str`].
    pub fn open_str(&self, sealed: &Sealed, aad: &str) -> Result<String, SecretsError> {
        let bytes = self.open(sealed, aad.as_bytes())?;
        String::from_utf8(bytes)
            .map_err(|_| SecretsError::Encoding("the secret is not UTF-8".into()))
    }

    /// True when `sealed` is not under the primary key (rotation should
    /// re-seal it).
    pub fn needs_rotation(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.primary().kid
    }

    /// Opens with whatever key sealed it and seals again under the primary
    /// key (with a fresh nonce, even when it already was the primary).
    pub fn reseal(&self, sealed: &Sealed, aad: &[u8]) -> Result<Sealed, SecretsError> {
        let plaintext = self.open(sealed, aad)?;
        self.seal(&plaintext, aad)
    }

    fn primary(&self) -> &Key {
        // `build` refuses an empty key list.
        &self.inner.keys[self.inner.keys.len() - 1]
    }

    fn key(&self, kid: &str) -> Option<&Key> {
        self.inner.keys.iter().find(|k| k.kid == kid)
    }
}

fn file_err(path: &Path, message: String) -> SecretsError {
    SecretsError::KeyFile {
        path: path.display().to_string(),
        message,
    }
}

/// Key ids go into database columns and logs: 1 to 128 ASCII letters,
/// digits, `-`, `_`, `.` or `:`.
fn check_kid(kid: &str) -> Result<(), String> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "kid {kid:?} must be 1 to {MAX_KID_LEN} ASCII letters, digits, '-', '_', '.' or ':'"
        ))
    }
}

fn read_file(path: &Path) -> Result<KeyFile, SecretsError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| file_err(path, format!("not a secret key file: {e}")))
}

/// Checks every entry of a parsed file and decodes its keys.
fn decode_entries(path: &Path, file: &KeyFile) -> Result<Vec<(String, [u8; 32])>, SecretsError> {
    if file.keys.is_empty() {
        return Err(file_err(path, "no keys".into()));
    }
    let mut keys: Vec<(String, [u8; 32])> = Vec::with_capacity(file.keys.len());
    for entry in &file.keys {
        check_kid(&entry.kid).map_err(|m| file_err(path, m))?;
        if keys.iter().any(|(k, _)| *k == entry.kid) {
            return Err(file_err(path, format!("duplicate kid {:?}", entry.kid)));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(entry.key.trim_end_matches('='))
            .map_err(|e| file_err(path, format!("key {}: not base64url: {e}", entry.kid)))?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            file_err(
                path,
                format!(
                    "key {}: must be 32 bytes (AES-256), got {}",
                    entry.kid,
                    bytes.len()
                ),
            )
        })?;
        keys.push((entry.kid.clone(), key));
    }
    Ok(keys)
}

fn read_keys(path: &Path) -> Result<Vec<(String, [u8; 32])>, SecretsError> {
    decode_entries(path, &read_file(path)?)
}

fn new_entry() -> Result<KeyEntry, SecretsError> {
    let mut key = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut key)
        .map_err(|e| SecretsError::Encoding(format!("no OS randomness for a new key: {e}")))?;
    Ok(KeyEntry {
        kid: format!("k-{}", uuid::Uuid::now_v7().simple()),
        key: URL_SAFE_NO_PAD.encode(key),
    })
}

fn encode_file(file: &KeyFile, path: &Path) -> Result<Vec<u8>, SecretsError> {
    let mut text = serde_json::to_string_pretty(file).map_err(|e| file_err(path, e.to_string()))?;
    text.push('\n');
    Ok(text.into_bytes())
}

fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|d| !d.as_os_str().is_empty())
}

/// A fresh, unused name beside `path` for a temporary file.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(".{name}.{}.tmp", uuid::Uuid::now_v7().simple());
    match parent_dir(path) {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Writes `bytes` to a new owner-only temporary file beside `path`, flushed
/// to disk, and returns its name.
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf, SecretsError> {
    let tmp = temp_path(path);
    if let Err(e) = write_private_new(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(file_err(path, format!("writing {}: {e}", tmp.display())));
    }
    Ok(tmp)
}

/// Creates `path` holding `bytes`; fails if it exists. The content is
/// written to a temporary file first and hard-linked into place, so readers
/// never see a partial file (falls back to writing in place where the file
/// system has no hard links).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    let exists = || {
        file_err(
            path,
            "already exists; refusing to overwrite a key file".into(),
        )
    };
    let tmp = write_temp(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
        Err(_) => match write_private_new(path, bytes) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
            Err(e) => Err(file_err(path, e.to_string())),
        },
    }
}

/// Replaces `path` with `bytes` atomically: temporary file, then rename.
fn replace(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    let tmp = write_temp(path, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(file_err(path, format!("replacing the file: {e}")));
    }
    sync_dir(path);
    Ok(())
}

/// Best effort: makes a rename or link in `path`'s directory durable.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = std::fs::File::open(parent_dir(path).unwrap_or(Path::new("."))) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(unix)]
fn write_private_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A column of sealed secrets a service declares, so rotation (`rotate-secrets`)
/// re-seals every secret of every service without knowing their tables.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    /// The table.
    pub table: &'static str,
    /// Its primary-key column (text).
    pub id_column: &'static str,
    /// The column holding the sealing key's id.
    pub key_id_column: &'static str,
    /// The column holding [`Sealed::ciphertext_b64`] (NULL when no secret).
    pub ciphertext_column: &'static str,
    /// The associated data of the secret in the row with this id.
    pub aad: fn(&str) -> String,
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Secrets re-sealed under the newest key.
    pub resealed: u64,
    /// Secrets already under the newest key.
    pub current: u64,
}

impl std::ops::AddAssign for Rotation {
    fn add_assign(&mut self, other: Self) {
        self.resealed += other.resealed;
        self.current += other.current;
    }
}

/// Re-seals every secret in `columns` that is not under the keyring's
/// newest key. Opens each before writing anything for it, so a secret no
/// configured key opens stops the rotation with an error rather than being
/// lost; each row is updated only if it still holds what was read.
pub async fn rotate_columns(
    db: &sea_orm::DatabaseConnection,
    keyring: &Keyring,
    columns: &[SealedColumn],
) -> Result<Rotation, RotationError> {
    use sea_orm::ConnectionTrait as _;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query};
    let mut done = Rotation::default();
    for c in columns {
        let select = Query::select()
            .columns([c.id_column, c.key_id_column, c.ciphertext_column].map(Alias::new))
            .from(Alias::new(c.table))
            .and_where(Expr::col(Alias::new(c.ciphertext_column)).is_not_null())
            .to_owned();
        for row in db.query_all(&select).await? {
            let id: String = row.try_get("", c.id_column)?;
            let key_id: String = row.try_get("", c.key_id_column)?;
            let ciphertext: String = row.try_get("", c.ciphertext_column)?;
            let at = || format!("{}.{} of {id}", c.table, c.ciphertext_column);
            let sealed = Sealed::from_stored(&key_id, &ciphertext)
                .map_err(|e| RotationError::Secret(at(), e))?;
            if !keyring.needs_rotation(&sealed) {
                done.current += 1;
                continue;
            }
            let resealed = keyring
                .reseal(&sealed, (c.aad)(&id).as_bytes())
                .map_err(|e| RotationError::Secret(at(), e))?;
            let update = Query::update()
                .table(Alias::new(c.table))
                .value(Alias::new(c.key_id_column), resealed.key_id.clone())
                .value(Alias::new(c.ciphertext_column), resealed.ciphertext_b64())
                .and_where(Expr::col(Alias::new(c.id_column)).eq(id.clone()))
                .and_where(Expr::col(Alias::new(c.ciphertext_column)).eq(ciphertext))
                .to_owned();
            db.execute(&update).await?;
            done.resealed += 1;
        }
    }
    Ok(done)
}

/// Why a rotation stopped.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A stored secret cannot be opened by any configured key.
    #[error("{0}: {1}")]
    Secret(String, SecretsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const AAD: &str = "authProviders/0193/client_secret";

    fn keyring() -> Keyring {
        Keyring::from_keys(vec![("k-test".into(), [7u8; 32])]).expect("keyring")
    }

    fn write(path: &Path, json: &str) {
        std::fs::write(path, json).expect("write key file");
    }

    fn key_b64(byte: u8) -> String {
        URL_SAFE_NO_PAD.encode([byte; 32])
    }

    fn file_error<T: std::fmt::Debug>(result: Result<T, SecretsError>) -> (String, String) {
        match result {
            Err(SecretsError::KeyFile { path, message }) => (path, message),
            other => panic!("expected a key file error, got {other:?}"),
        }
    }

    #[test]
    fn seal_and_open_round_trip() {
        let ring = keyring();
        let sealed = ring
            .seal(b"s3cret client secret", AAD.as_bytes())
            .expect("seal");
        assert_eq!(sealed.key_id, "k-test");
        assert_eq!(sealed.ciphertext.len(), NONCE_LEN + 20 + TAG_LEN);
        assert_eq!(
            ring.open(&sealed, AAD.as_bytes()).expect("open"),
            b"s3cret client secret"
        );

        let stored =
            Sealed::from_stored(&sealed.key_id, &sealed.ciphertext_b64()).expect("from_stored");
        assert_eq!(stored, sealed);
        assert!(!sealed.ciphertext_b64().contains(['=', '+', '/']));

        let text = ring
            .seal_str("DE89 3704 0044 0532 0130 00", "accounts/1/iban")
            .expect("seal_str");
        assert_eq!(
            ring.open_str(&text, "accounts/1/iban").expect("open_str"),
            "DE89 3704 0044 0532 0130 00"
        );
        let empty = ring.seal(b"", b"").expect("seal empty");
        assert_eq!(ring.open(&empty, b"").expect("open empty"), b"");
    }

    #[test]
    fn ciphertext_does_not_contain_the_plaintext() {
        let ring = keyring();
        let plaintext = b"a-very-recognisable-webhook-secret-0123456789";
        let sealed = ring.seal(plaintext, AAD.as_bytes()).expect("seal");
        assert!(
            !sealed
                .ciphertext
                .windows(8)
                .any(|w| plaintext.windows(8).any(|p| p == w))
        );
        assert!(!sealed.ciphertext_b64().contains("recognisable"));
    }

    #[test]
    fn a_different_aad_does_not_open() {
        let ring = keyring();
        let sealed = ring
            .seal_str("secret", "authProviders/1/client_secret")
            .expect("seal");
        assert!(matches!(
            ring.open_str(&sealed, "authProviders/2/client_secret"),
            Err(SecretsError::Decrypt)
        ));
        assert!(matches!(
            ring.open(&sealed, b""),
            Err(SecretsError::Decrypt)
        ));
    }

    #[test]
    fn a_tampered_byte_does_not_open() {
        let ring = keyring();
        let sealed = ring.seal(b"secret", AAD.as_bytes()).expect("seal");
        // Nonce, body and tag: every byte is covered.
        for i in 0..sealed.ciphertext.len() {
            let mut tampered = sealed.clone();
            tampered.ciphertext[i] ^= 0x01;
            assert!(
                matches!(
                    ring.open(&tampered, AAD.as_bytes()),
                    Err(SecretsError::Decrypt)
                ),
                "byte {i}"
            );
        }
        let mut truncated = sealed.clone();
        truncated.ciphertext.pop();
        assert!(matches!(
            ring.open(&truncated, AAD.as_bytes()),
            Err(SecretsError::Decrypt)
        ));
        let mut short = sealed.clone();
        short.ciphertext.truncate(NONCE_LEN + TAG_LEN - 1);
        assert!(matches!(
            ring.open(&short, AAD.as_bytes()),
            Err(SecretsError::Encoding(_))
        ));

        // Relabelled to another key of the same keyring.
        let two = Keyring::from_keys(vec![("k-a".into(), [1u8; 32]), ("k-b".into(), [2u8; 32])])
            .expect("keyring");
        let mut relabelled = two.seal(b"secret", b"").expect("seal");
        relabelled.key_id = "k-a".into();
        assert!(matches!(
            two.open(&relabelled, b""),
            Err(SecretsError::Decrypt)
        ));
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let ring = keyring();
        let a = ring.seal(b"same", AAD.as_bytes()).expect("seal");
        let b = ring.seal(b"same", AAD.as_bytes()).expect("seal");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.ciphertext[..NONCE_LEN], b.ciphertext[..NONCE_LEN]);
        assert_eq!(ring.open(&a, AAD.as_bytes()).expect("open a"), b"same");
        assert_eq!(ring.open(&b, AAD.as_bytes()).expect("open b"), b"same");
    }

    #[test]
    fn rotation_adds_a_key_reseals_and_removes_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys").join("secret-keys.json");
        Keyring::generate_key_file(&path).expect("generate");
        let old_ring = Keyring::from_key_file(&path).expect("load");
        let old_kid = old_ring.primary_key_id().to_string();
        assert!(
            old_kid.starts_with("k-") && old_kid.len() == 34,
            "{old_kid}"
        );

        let secrets: Vec<(String, String)> = (0..5)
            .map(|i| (format!("secret {i}"), format!("webhooks/{i}/secret")))
            .collect();
        let old: Vec<Sealed> = secrets
            .iter()
            .map(|(s, aad)| old_ring.seal_str(s, aad).expect("seal"))
            .collect();
        assert!(old.iter().all(|s| !old_ring.needs_rotation(s)));

        let new_kid = Keyring::add_generated_key(&path).expect("add key");
        assert_ne!(new_kid, old_kid);
        let ring = Keyring::from_key_file(&path).expect("reload");
        assert_eq!(ring.key_ids(), vec![old_kid.clone(), new_kid.clone()]);
        assert_eq!(ring.primary_key_id(), new_kid);
        for ((s, aad), sealed) in secrets.iter().zip(&old) {
            assert_eq!(
                ring.open_str(sealed, aad).expect("old secret still opens"),
                *s
            );
            assert!(ring.needs_rotation(sealed));
        }
        let fresh = ring.seal_str("fresh", "webhooks/9/secret").expect("seal");
        assert_eq!(fresh.key_id, new_kid);
        assert!(!ring.needs_rotation(&fresh));
        // The old keyring does not know the new key.
        assert!(
            matches!(old_ring.open_str(&fresh, "webhooks/9/secret"), Err(SecretsError::UnknownKey(k)) if k == new_kid)
        );

        let resealed: Vec<Sealed> = secrets
            .iter()
            .zip(&old)
            .map(|((_, aad), sealed)| ring.reseal(sealed, aad.as_bytes()).expect("reseal"))
            .collect();
        for ((s, aad), sealed) in secrets.iter().zip(&resealed) {
            assert_eq!(sealed.key_id, new_kid);
            assert!(!ring.needs_rotation(sealed));
            assert_eq!(ring.open_str(sealed, aad).expect("open resealed"), *s);
        }
        // Resealing needs the right aad too.
        assert!(matches!(
            ring.reseal(&old[0], b"webhooks/x/secret"),
            Err(SecretsError::Decrypt)
        ));

        Keyring::remove_key(&path, &old_kid).expect("remove old key");
        let ring = Keyring::from_key_file(&path).expect("reload");
        assert_eq!(ring.key_ids(), vec![new_kid.clone()]);
        for ((s, aad), sealed) in secrets.iter().zip(&resealed) {
            assert_eq!(ring.open_str(sealed, aad).expect("open resealed"), *s);
        }
        for ((_, aad), sealed) in secrets.iter().zip(&old) {
            assert!(
                matches!(ring.open_str(sealed, aad), Err(SecretsError::UnknownKey(k)) if k == old_kid)
            );
        }

        // The last key stays; unknown kids are reported.
        let only = file_error(Keyring::remove_key(&path, &new_kid));
        assert!(only.1.contains("only key"), "{only:?}");
        assert!(
            matches!(Keyring::remove_key(&path, "k-nope"), Err(SecretsError::UnknownKey(k)) if k == "k-nope")
        );
        assert_eq!(
            Keyring::from_key_file(&path).expect("reload").key_ids(),
            vec![new_kid]
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret-keys.json")]);
    }

    #[test]
    fn generate_key_file_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        Keyring::generate_key_file(&path).expect("generate");
        let before = std::fs::read(&path).expect("read");
        let (_, message) = file_error(Keyring::generate_key_file(&path));
        assert!(message.contains("already exists"), "{message}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn key_file_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        let shown = path.display().to_string();
        let cases = [
            (r#"{"keys": ["#.to_string(), "not a secret key file"),
            (r#"{"keys": []}"#.to_string(), "no keys"),
            (r#"{}"#.to_string(), "missing field"),
            (
                format!(
                    r#"{{"keys": [{{"kid": "k-1", "key": "{}"}}]}}"#,
                    URL_SAFE_NO_PAD.encode([1u8; 16])
                ),
                "must be 32 bytes",
            ),
            (
                format!(
                    r#"{{"keys": [{{"kid": "k-1", "key": "{}"}}]}}"#,
                    URL_SAFE_NO_PAD.encode([1u8; 33])
                ),
                "must be 32 bytes",
            ),
            (
                r#"{"keys": [{"kid": "k-1", "key": "!!!"}]}"#.to_string(),
                "not base64url",
            ),
            (
                format!(
                    r#"{{"keys": [{{"kid": "k-1", "key": "{}"}}, {{"kid": "k-1", "key": "{}"}}]}}"#,
                    key_b64(1),
                    key_b64(2)
                ),
                "duplicate kid",
            ),
            (
                format!(r#"{{"keys": [{{"kid": "", "key": "{}"}}]}}"#, key_b64(1)),
                "kid \"\" must be",
            ),
            (
                format!(r#"{{"keys": [{{"kid": "k 1", "key": "{}"}}]}}"#, key_b64(1)),
                "must be 1 to 128",
            ),
            (
                format!(
                    r#"{{"keys": [{{"kid": "k-1", "secret": "{}"}}]}}"#,
                    key_b64(1)
                ),
                "unknown field",
            ),
        ];
        for (json, expected) in cases {
            write(&path, &json);
            let (p, message) = file_error(Keyring::from_key_file(&path));
            assert_eq!(p, shown, "{json}");
            assert!(message.contains(expected), "{json}: {message}");
            // The file-editing operations validate it too.
            assert!(
                matches!(
                    Keyring::add_generated_key(&path),
                    Err(SecretsError::KeyFile { .. })
                ),
                "{json}"
            );
        }

        let (p, _) = file_error(Keyring::from_key_file(&dir.path().join("missing.json")));
        assert!(p.ends_with("missing.json"));

        // A kid may appear once across files; the error names the second file.
        let other = dir.path().join("other.json");
        write(
            &path,
            &format!(r#"{{"keys": [{{"kid": "k-1", "key": "{}"}}]}}"#, key_b64(1)),
        );
        write(
            &other,
            &format!(r#"{{"keys": [{{"kid": "k-1", "key": "{}"}}]}}"#, key_b64(2)),
        );
        let (p, message) = file_error(Keyring::from_key_files(&[path.clone(), other.clone()]));
        assert_eq!(p, other.display().to_string());
        assert!(message.contains("duplicate kid"), "{message}");
        file_error(Keyring::from_key_files(&[]));

        // Raw keys are checked the same way.
        file_error(Keyring::from_keys(vec![]));
        file_error(Keyring::from_keys(vec![
            ("k-1".into(), [1; 32]),
            ("k-1".into(), [2; 32]),
        ]));
        file_error(Keyring::from_keys(vec![("k/1".into(), [1; 32])]));
    }

    #[test]
    fn several_files_concatenate_and_the_last_key_is_primary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        write(
            &a,
            &format!(
                r#"{{"keys": [{{"kid": "k-1", "key": "{}"}}, {{"kid": "k-2", "key": "{}="}}]}}"#,
                key_b64(1),
                key_b64(2)
            ),
        );
        write(
            &b,
            &format!(r#"{{"keys": [{{"kid": "k-3", "key": "{}"}}]}}"#, key_b64(3)),
        );
        let ring = Keyring::from_key_files(&[a.clone(), b]).expect("load");
        assert_eq!(ring.key_ids(), vec!["k-1", "k-2", "k-3"]);
        assert_eq!(ring.primary_key_id(), "k-3");
        assert_eq!(
            Keyring::from_key_file(&a).expect("load").primary_key_id(),
            "k-2"
        );
        // Same key bytes interoperate with `from_keys`.
        let raw = Keyring::from_keys(vec![("k-1".into(), [1; 32]), ("k-3".into(), [3; 32])])
            .expect("keyring");
        let sealed = raw.seal(b"x", b"aad").expect("seal");
        assert_eq!(ring.open(&sealed, b"aad").expect("open"), b"x");
    }

    #[test]
    fn stored_form_is_checked() {
        assert!(matches!(
            Sealed::from_stored("k-1", "not base64!"),
            Err(SecretsError::Encoding(_))
        ));
        assert!(matches!(
            Sealed::from_stored("k-1", &URL_SAFE_NO_PAD.encode([0u8; 27])),
            Err(SecretsError::Encoding(_))
        ));
        assert!(matches!(
            Sealed::from_stored("", &URL_SAFE_NO_PAD.encode([0u8; 28])),
            Err(SecretsError::Encoding(_))
        ));
        let ring = keyring();
        let sealed = ring.seal_str("x", "a").expect("seal");
        let padded = format!("{}==", sealed.ciphertext_b64());
        assert_eq!(
            Sealed::from_stored("k-test", &padded).expect("padded"),
            sealed
        );
        let unknown =
            Sealed::from_stored("k-other", &sealed.ciphertext_b64()).expect("from_stored");
        assert!(
            matches!(ring.open_str(&unknown, "a"), Err(SecretsError::UnknownKey(k)) if k == "k-other")
        );
        let not_utf8 = ring.seal(&[0xff, 0xfe], b"a").expect("seal");
        assert!(matches!(
            ring.open_str(&not_utf8, "a"),
            Err(SecretsError::Encoding(_))
        ));
    }

    #[test]
    fn debug_output_shows_key_ids_but_no_key_material() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.json");
        Keyring::generate_key_file(&path).expect("generate");
        Keyring::add_generated_key(&path).expect("add");
        let file: KeyFile =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("parse");
        let ring = Keyring::from_key_file(&path).expect("load");
        let debug = format!("{ring:?} {:?} {file:?}", ring.clone());
        for entry in &file.keys {
            assert!(debug.contains(&entry.kid), "{debug}");
            assert!(!debug.contains(&entry.key), "{debug}");
            let raw = URL_SAFE_NO_PAD.decode(&entry.key).expect("decode");
            assert!(!debug.contains(&format!("{raw:?}")), "{debug}");
            assert!(!debug.contains(&format!("{:?}", &raw[..4])), "{debug}");
        }
        let raw = Keyring::from_keys(vec![("k-raw".into(), [0xab; 32])]).expect("keyring");
        let debug = format!("{raw:?}");
        assert!(
            debug.contains("k-raw") && !debug.contains("171") && !debug.contains(&key_b64(0xab)),
            "{debug}"
        );
    }

    #[test]
    fn secret_args_create_and_load_the_dev_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let args = crate::config::SecretArgs { key_files: vec![] };
        assert_eq!(
            args.effective_key_files(&data),
            vec![data.join(crate::config::DEV_SECRET_KEY_FILE)]
        );
        assert!(matches!(
            args.keyring(&data, false),
            Err(SecretsError::KeyFile { .. })
        ));
        let ring = args.keyring(&data, true).expect("dev keyring");
        let again = args.keyring(&data, true).expect("dev keyring again");
        assert_eq!(ring.key_ids(), again.key_ids());
        let sealed = ring.seal_str("x", "a").expect("seal");
        assert_eq!(again.open_str(&sealed, "a").expect("open"), "x");

        let configured = crate::config::SecretArgs {
            key_files: vec![dir.path().join("configured.json")],
        };
        // Configured files are never created.
        assert!(matches!(
            configured.keyring(&data, true),
            Err(SecretsError::KeyFile { .. })
        ));
        Keyring::generate_key_file(&configured.key_files[0]).expect("generate");
        assert_eq!(
            configured
                .keyring(&data, true)
                .expect("load")
                .key_ids()
                .len(),
            1
        );
    }
}
