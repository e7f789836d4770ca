//! Access control: bearer tokens with scopes.
//!
//! Tokens come from `--tokens-file` and `LOGSTREAM_TOKENS` as `SCOPE:TOKEN`
//! entries. Once any is configured, every route but `/api/health` and
//! `/api/openapi.json` (open routes, `scope: None` in `ROUTES`) needs
//! `Authorization: Bearer TOKEN` with a known token (401 otherwise) whose
//! scope covers the route (403 otherwise). With none the API is open.
//!
//! Only SHA-256 digests of the tokens are kept, and a presented token is
//! compared with every one of them in constant time. Nothing here prints a
//! token: configuration errors name the file and line, never the text on it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use logstream_shared::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, Route};

/// Shorter tokens are refused at start-up: they could be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /api/ingest`.
    Ingest,
    /// Searches and stats.
    Read,
    /// Both.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Scope> {
        match text {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// Whether a token of this scope may use routes that need `needed`.
    fn grants(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

type TokenDigest = [u8; 32];

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The configured tokens, as digests with their scopes. Its `Debug` shows
/// only how many there are of each scope.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Arc<[(TokenDigest, Scope)]>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({})", self.summary())
    }
}

impl Tokens {
    /// The tokens of a tokens file (one entry a line, `#` comments) and of
    /// `--tokens`/`LOGSTREAM_TOKENS` (entries separated by commas or
    /// whitespace). A bad entry is an error naming where it is.
    pub fn load(file: Option<&Path>, inline: Option<&Secret>) -> anyhow::Result<Tokens> {
        let mut entries = Vec::new();
        // Where each entry was, to name both places of a duplicate.
        let mut places: Vec<String> = Vec::new();
        let mut add = |entry: &str, place: String| -> anyhow::Result<()> {
            let (digest, scope) =
                parse_entry(entry).map_err(|problem| anyhow::anyhow!("{place}: {problem}"))?;
            if let Some(first) = entries.iter().position(|(d, _)| *d == digest) {
                anyhow::bail!("{place}: duplicate token (also at {})", places[first]);
            }
            entries.push((digest, scope));
            places.push(place);
            Ok(())
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the tokens file {}", path.display()))?;
            for (index, line) in text.lines().enumerate() {
                let entry = line.trim();
                if !entry.is_empty() && !entry.starts_with('#') {
                    add(entry, format!("{}:{}", path.display(), index + 1))?;
                }
            }
        }
        if let Some(inline) = inline {
            let entries = inline
                .expose()
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|entry| !entry.is_empty());
            for (index, entry) in entries.enumerate() {
                add(
                    entry,
                    format!("LOGSTREAM_TOKENS (--tokens) entry {}", index + 1),
                )?;
            }
        }
        Ok(Tokens {
            entries: entries.into(),
        })
    }

    /// With no token configured, the API is open.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens of each scope, for the start-up log.
    pub fn summary(&self) -> String {
        let count = |scope| self.entries.iter().filter(|(_, s)| *s == scope).count();
        format!(
            "{} ingest, {} read, {} admin",
            count(Scope::Ingest),
            count(Scope::Read),
            count(Scope::Admin)
        )
    }

    /// The scope of a presented token. Every digest is compared, without
    /// stopping at a match, so the time taken tells nothing about the tokens.
    fn scope_of(&self, token: &str) -> Option<Scope> {
        let presented = digest(token);
        let mut found = None;
        for (known, scope) in self.entries.iter() {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(*scope);
            }
        }
        found
    }

    /// Whether a request may see what needs `needed`: without tokens
    /// configured every request may; with them, one with a known token of
    /// that scope (or admin). For open routes that show more to some callers.
    pub(super) fn allow(&self, headers: &HeaderMap, needed: Scope) -> bool {
        self.is_empty()
            || self
                .authenticate(headers)
                .is_ok_and(|scope| scope.grants(needed))
    }

    /// The scope of the request's token, or a 401 saying what is wrong. The
    /// token comes as `Bearer TOKEN`, or as the password of HTTP Basic
    /// (`Basic base64(USER:TOKEN)`, any user name), which is how Loki and
    /// Elasticsearch clients send credentials.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Scope, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized(
                "this server needs an access token: send the header \"Authorization: Bearer TOKEN\" \
                 (or HTTP Basic with the token as the password)"
                    .into(),
            ));
        };
        let token = presented_token(value.to_str().unwrap_or_default()).ok_or_else(|| {
            ApiError::Unauthorized(
                "malformed Authorization header: expected \"Bearer TOKEN\" or \"Basic \" with \
                 base64 of USER:TOKEN"
                    .into(),
            )
        })?;
        self.scope_of(&token)
            .ok_or_else(|| ApiError::Unauthorized("unknown access token".into()))
    }
}

/// The token in an `Authorization` value: a bearer token, or the password of
/// Basic credentials (the user name, when the password is empty). Schemes
/// are case-insensitive (RFC 9110).
fn presented_token(value: &str) -> Option<String> {
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        if password.is_empty() { user } else { password }.to_string()
    } else {
        return None;
    };
    (!token.is_empty()).then_some(token)
}

/// One `SCOPE:TOKEN` entry. Problems are described without quoting the
/// token, which must not end up in a log.
fn parse_entry(entry: &str) -> Result<(TokenDigest, Scope), String> {
    const FORM: &str = "expected SCOPE:TOKEN, with a scope of ingest, read or admin";
    let (scope, token) = entry.split_once(':').ok_or(FORM)?;
    let scope = Scope::parse(scope).ok_or_else(|| {
        // A short word is a mistyped scope; anything else could be a token.
        if scope.len() <= 10 && scope.chars().all(|c| c.is_ascii_alphabetic()) {
            format!("unknown scope \"{scope}\"; {FORM}")
        } else {
            format!("unknown scope; {FORM}")
        }
    })?;
    if token.is_empty() {
        return Err("empty token".into());
    }
    // It must fit in an Authorization header as it is.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the token has a character other than printable ASCII (no spaces; \
             comments must be on lines of their own)"
                .into(),
        );
    }
    if token.len() < MIN_TOKEN_CHARS {
        return Err(format!(
            "the token is shorter than {MIN_TOKEN_CHARS} characters (make one with `openssl rand -hex 32`)"
        ));
    }
    Ok((digest(token), scope))
}

/// The scope of a request's token, once checked by [`require_token`].
#[derive(Debug, Clone, Copy)]
struct Caller(Scope);

/// What a guard checks: a known token, with the scope that `routes` gives
/// the request's route if set.
#[derive(Debug, Clone)]
struct Guard {
    tokens: Tokens,
    routes: Option<&'static [Route]>,
}

/// `routes` (and their fallback) answer only requests with a known token;
/// others get 401 with `WWW-Authenticate: Bearer`.
pub(super) fn require_token<S>(routes: Router<S>, tokens: &Tokens) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let guard = Guard {
        tokens: tokens.clone(),
        routes: None,
    };
    routes.layer(middleware::from_fn_with_state(guard, check))
}

/// `routes` answer only requests whose token's scope covers the one `table`
/// gives their route; others get 403 (or 401 without a known token). A
/// route that is not in `table` answers 500, tokens or not, so that a new
/// endpoint cannot be served before its scope is decided.
pub(super) fn require_scope<S>(
    routes: Router<S>,
    tokens: &Tokens,
    table: &'static [Route],
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let guard = Guard {
        tokens: tokens.clone(),
        routes: Some(table),
    };
    routes.route_layer(middleware::from_fn_with_state(guard, check))
}

async fn check(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let needed = match guard.needed(&request) {
        Ok(needed) => needed,
        Err(e) => return e.into_response(),
    };
    if guard.tokens.is_empty() {
        return next.run(request).await;
    }
    match guard.admit(&request, needed) {
        Ok(scope) => {
            request.extensions_mut().insert(Caller(scope));
            next.run(request).await
        }
        Err(e) => {
            // The request's span names the method and path.
            tracing::debug!("refused: {e:?}");
            e.into_response()
        }
    }
}

impl Guard {
    /// The scope the request's route needs, if any.
    fn needed(&self, request: &Request) -> Result<Option<Scope>, ApiError> {
        let Some(table) = self.routes else {
            return Ok(None);
        };
        let path = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("", MatchedPath::as_str);
        match table.iter().find(|route| route.path == path) {
            Some(route) => Ok(route.scope),
            None => Err(ApiError::Internal(anyhow::anyhow!(
                "the route \"{path}\" has no entry in the routes table (logstreamd::api::ROUTES) \
                 saying which scope it needs"
            ))),
        }
    }

    /// The scope of the request's token, if it may pass.
    fn admit(&self, request: &Request, needed: Option<Scope>) -> Result<Scope, ApiError> {
        // An outer guard has usually checked the token already.
        let scope = match request.extensions().get::<Caller>() {
            Some(Caller(scope)) => *scope,
            None => self.tokens.authenticate(request.headers())?,
        };
        match needed {
            Some(needed) if !scope.grants(needed) => Err(ApiError::Forbidden(format!(
                "this token has the scope \"{}\"; {} {} needs \"{}\" (or \"admin\")",
                scope.as_str(),
                request.method(),
                request.uri().path(),
                needed.as_str()
            ))),
            _ => Ok(scope),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const INGEST: &str = "ingest-0123456789abcdef";
    const READ: &str = "read-0123456789abcdef";
    const ADMIN: &str = "admin-0123456789abcdef";

    fn inline(text: &str) -> anyhow::Result<Tokens> {
        Tokens::load(None, Some(&Secret::new(text)))
    }

    #[test]
    fn entries_from_a_file_and_the_environment() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(
            file,
            "# apps\ningest:{INGEST}\n\n  # people\n  read:{READ}  \n"
        )
        .unwrap();
        let tokens = Tokens::load(
            Some(file.path()),
            Some(&Secret::new(format!(" admin:{ADMIN}, "))),
        )
        .unwrap();
        assert_eq!(tokens.scope_of(INGEST), Some(Scope::Ingest));
        assert_eq!(tokens.scope_of(READ), Some(Scope::Read));
        assert_eq!(tokens.scope_of(ADMIN), Some(Scope::Admin));
        assert_eq!(tokens.scope_of("read-0123456789abcde"), None);
        assert_eq!(tokens.scope_of(""), None);
        assert_eq!(tokens.summary(), "1 ingest, 1 read, 1 admin");

        let tokens = inline(&format!("ingest:{INGEST},read:{READ}\nadmin:{ADMIN}")).unwrap();
        assert_eq!(tokens.scope_of(ADMIN), Some(Scope::Admin));
        assert!(Tokens::load(None, None).unwrap().is_empty());
        assert!(inline(" , ").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_refused_with_where_they_are_and_without_the_token() {
        let secret = "s3cret-s3cret-s3cret";
        let cases = [
            (
                format!("write:{secret}"),
                "entry 1: unknown scope \"write\"",
            ),
            (
                format!("{secret}:x"),
                "entry 1: unknown scope; expected SCOPE:TOKEN",
            ),
            (secret.to_string(), "entry 1: expected SCOPE:TOKEN"),
            ("read:".into(), "entry 1: empty token"),
            (
                format!("read:{READ} ingest:short"),
                "entry 2: the token is shorter than 16 characters",
            ),
            (
                format!("read:{secret},admin:{secret}"),
                "entry 2: duplicate token (also at LOGSTREAM_TOKENS (--tokens) entry 1)",
            ),
            (
                format!("read:{secret}\u{e9}"),
                "entry 1: the token has a character",
            ),
        ];
        for (text, expected) in cases {
            let message = format!("{:#}", inline(&text).unwrap_err());
            assert!(message.contains(expected), "{text}: {message}");
            assert!(!message.contains(secret), "{message}");
        }

        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(file, "# tokens\nread:{READ}\nread:{secret} # ops\n").unwrap();
        let message = format!("{:#}", Tokens::load(Some(file.path()), None).unwrap_err());
        assert!(
            message.starts_with(&format!("{}:3: the token has", file.path().display())),
            "{message}"
        );
        assert!(!message.contains(secret), "{message}");

        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "read:{secret}").unwrap();
        let duplicate = Tokens::load(
            Some(file.path()),
            Some(&Secret::new(format!("ingest:{INGEST} admin:{secret}"))),
        );
        let message = format!("{:#}", duplicate.unwrap_err());
        assert_eq!(
            message,
            format!(
                "LOGSTREAM_TOKENS (--tokens) entry 2: duplicate token (also at {}:1)",
                file.path().display()
            )
        );
    }

    #[test]
    fn debug_shows_counts_only() {
        let tokens = inline(&format!("read:{READ} admin:{ADMIN}")).unwrap();
        let debug = format!("{tokens:?}");
        assert_eq!(debug, "Tokens(0 ingest, 1 read, 1 admin)");
    }

    #[test]
    fn bearer_headers() {
        let tokens = inline(&format!("read:{READ}")).unwrap();
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            tokens.authenticate(&headers).map_err(|e| format!("{e:?}"))
        };
        assert_eq!(with(&format!("Bearer {READ}")), Ok(Scope::Read));
        assert_eq!(with(&format!("bearer  {READ} ")), Ok(Scope::Read));
        assert!(
            with(&format!("Basic {READ}"))
                .unwrap_err()
                .contains("malformed")
        );
        assert!(with("Bearer").unwrap_err().contains("malformed"));
        assert!(with("Bearer ").unwrap_err().contains("malformed"));
        assert!(
            with(&format!("Bearer {ADMIN}"))
                .unwrap_err()
                .contains("unknown access token")
        );
        let basic = |credentials: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            )
        };
        assert_eq!(with(&basic(&format!("loki:{READ}"))), Ok(Scope::Read));
        assert_eq!(with(&basic(&format!("{READ}:"))), Ok(Scope::Read));
        assert!(with(&basic("user:wrong")).unwrap_err().contains("unknown"));
        assert!(with(&basic("no-colon")).unwrap_err().contains("malformed"));
        let missing = tokens.authenticate(&HeaderMap::new()).unwrap_err();
        assert!(format!("{missing:?}").contains("Authorization: Bearer TOKEN"));
    }

    #[test]
    fn admin_grants_everything_and_the_others_one_thing() {
        assert!(Scope::Admin.grants(Scope::Ingest) && Scope::Admin.grants(Scope::Read));
        assert!(Scope::Ingest.grants(Scope::Ingest) && !Scope::Ingest.grants(Scope::Read));
        assert!(Scope::Read.grants(Scope::Read) && !Scope::Read.grants(Scope::Ingest));
    }

    /// A route that the table passed to the guard leaves out answers 500,
    /// with tokens and without, instead of going unguarded.
    #[tokio::test]
    async fn a_route_missing_from_the_table_is_refused() {
        use axum::body::Body;
        use axum::http::StatusCode;
        use axum::routing::get;
        use tower::ServiceExt as _;

        const TABLE: &[Route] = &[Route {
            path: "/listed",
            methods: &["GET"],
            scope: Some(Scope::Read),
        }];
        for tokens in [Tokens::default(), inline(&format!("read:{READ}")).unwrap()] {
            let routes = Router::new()
                .route("/listed", get(|| async { "listed" }))
                .route("/forgotten", get(|| async { "forgotten" }));
            let router = require_scope(routes, &tokens, TABLE);
            for (path, expected) in [
                ("/listed", StatusCode::OK),
                ("/forgotten", StatusCode::INTERNAL_SERVER_ERROR),
            ] {
                let request = axum::http::Request::get(path)
                    .header(header::AUTHORIZATION, format!("Bearer {READ}"))
                    .body(Body::empty())
                    .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), expected, "{path} with {tokens:?}");
            }
        }
    }
}
