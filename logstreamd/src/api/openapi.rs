//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API.
//!
//! The schemas are derived from the request and answer types themselves
//! (`utoipa::ToSchema` and `IntoParams` on `logstream_shared::api`, behind
//! the shared crate's `openapi` feature), so a field cannot change without
//! the document changing with it. The paths are those of [`ROUTES`], each
//! described by [`Document::operation`]; security and the 401 and 403
//! answers follow the route's scope there. A test checks that every route
//! of the table is described, and `logstreamd/tests/openapi.rs` runs
//! schemathesis against a real daemon with the document.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use logstream_shared::api::{
    ContextPage, ContextParams, ErrorBody, FacetParams, Facets, FieldList, FieldsParams, Health,
    Histogram, HistogramParams, IngestAccepted, IngestRecord, LogsAnswer, MAX_BATCH_RECORDS,
    SearchParams, TailParams,
};
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{
    Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, SchemaFormat};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, Content, HeaderBuilder, HttpMethod, InfoBuilder, KnownFormat, OpenApi,
    OpenApiBuilder, PathItem, PathsBuilder, Ref, RefOr, Required, Response, ResponseBuilder,
    Schema, Type,
};
use utoipa::{IntoParams, ToSchema};

use super::{ROUTES, Route};

pub(super) fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/api/openapi.json", get(serve))
}

async fn serve() -> impl IntoResponse {
    // Built once: the document never changes while the daemon runs.
    static JSON: LazyLock<String> = LazyLock::new(|| {
        document()
            .to_json()
            .expect("an OpenAPI document always serializes")
    });
    ([(header::CONTENT_TYPE, "application/json")], JSON.as_str())
}

/// The document of every route in [`ROUTES`].
pub fn document() -> OpenApi {
    let mut document = Document::default();
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        for method in route.methods {
            // A route left undescribed fails the tests below.
            if let (Some(http), Some(operation)) =
                (http_method(method), document.operation(route, method))
            {
                paths = paths.path(route.path, PathItem::new(http, operation));
            }
        }
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(document.schemas)
        .security_scheme("bearer", auth_scheme(HttpAuthScheme::Bearer))
        .security_scheme("basic", auth_scheme(HttpAuthScheme::Basic))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("LogStream")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION)),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

const DESCRIPTION: &str = "The HTTP API of logstreamd: ingest (its own JSON, OTLP/HTTP, Loki \
     push, Elasticsearch bulk), queries, counts, the live tail, health and metrics. Once tokens \
     are configured every operation with a security requirement needs a token of the scope it \
     names (an admin token works everywhere); without tokens the API is open. Every error has \
     the JSON body ErrorBody, except those of the shipper protocols, which answer their own \
     way.";

/// A token, as `Authorization: Bearer TOKEN` or as the password of HTTP
/// Basic (how Loki and Elasticsearch clients send it).
fn auth_scheme(scheme: HttpAuthScheme) -> SecurityScheme {
    let mut http = Http::new(scheme);
    http.description = Some(
        "An access token; the operation's roles name the scope it needs: ingest, read, or \
         admin for both."
            .into(),
    );
    SecurityScheme::Http(http)
}

fn http_method(method: &str) -> Option<HttpMethod> {
    let method = match method {
        "GET" => HttpMethod::Get,
        "HEAD" => HttpMethod::Head,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "OPTIONS" => HttpMethod::Options,
        _ => return None,
    };
    Some(method)
}

/// How a route's errors are written.
#[derive(Debug, Clone, Copy)]
enum Errors {
    /// [`ErrorBody`] JSON.
    Json,
    /// `google.rpc.Status`, in protobuf or JSON.
    Otlp,
    /// Elasticsearch's error JSON.
    Elastic,
    /// Plain text (Loki's push, `/ready`).
    Text,
}

/// What the operation says about one request and its answers, before the
/// parts every guarded route shares are added.
struct Described {
    summary: &'static str,
    tag: &'static str,
    parameters: Vec<Parameter>,
    body: Option<RequestBodyBuilder>,
    success: Vec<(u16, Response)>,
    errors: Errors,
    /// The statuses of its own errors, in its error format.
    error_statuses: &'static [u16],
}

/// What ingest answers on every protocol: a bad body, a body too slow or
/// too large, an unsupported `Content-Encoding`, a reused idempotency key,
/// a full pipeline, a store that failed or a full disk.
const INGEST_ERRORS: &[u16] = &[400, 408, 413, 415, 422, 429, 503, 507];
/// What a query may answer besides success: a bad parameter, a timeout, a
/// store that cannot answer or whose disk is full.
const QUERY_ERRORS: &[u16] = &[400, 408, 503, 507];

/// The document being built: the schemas its operations refer to, added as
/// they are used.
#[derive(Default)]
struct Document {
    schemas: BTreeMap<String, RefOr<Schema>>,
}

impl Document {
    /// A reference to `T`'s schema, which is added with those it refers to.
    fn schema<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        self.schemas.extend(nested);
        self.schemas.insert(T::name().into_owned(), T::schema());
        Ref::from_schema_name(T::name()).into()
    }

    fn json<T: ToSchema>(&mut self) -> Content {
        Content::new(Some(self.schema::<T>()))
    }

    /// The operation of `route` with `method`, or `None` for one that this
    /// module does not describe (a test checks that there is none).
    fn operation(&mut self, route: &Route, method: &str) -> Option<Operation> {
        let described = self.describe(route.path, method)?;
        let mut operation = OperationBuilder::new()
            .operation_id(Some(operation_id(route.path, method)))
            .summary(Some(described.summary))
            .tag(described.tag)
            .parameters(Some(described.parameters))
            .request_body(described.body.map(RequestBodyBuilder::build));
        for (status, response) in described.success {
            operation = operation.response(status.to_string(), response);
        }
        let guard: &[u16] = if route.scope.is_some() {
            &[401, 403]
        } else {
            &[]
        };
        // Every route may meet the connection limit (503, answered before
        // the request is routed).
        let mut statuses: Vec<u16> = [described.error_statuses, guard, &[503]].concat();
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            let own = described.error_statuses.contains(&status);
            let errors = if own { described.errors } else { Errors::Json };
            operation = operation.response(status.to_string(), self.error(errors, status));
        }
        if let Some(scope) = route.scope {
            let roles = [scope.as_str()];
            operation = operation
                .security(SecurityRequirement::new("bearer", roles))
                .security(SecurityRequirement::new("basic", roles));
        }
        Some(operation.build())
    }

    /// An error answer with `status`, in the route's format. The guard (401,
    /// 403) and the connection limit (503) answer [`ErrorBody`] on every
    /// route, so a protocol's JSON errors may be either.
    fn error(&mut self, errors: Errors, status: u16) -> Response {
        let error_body = self.schema::<ErrorBody>();
        let either = |own: RefOr<Schema>| -> Content {
            let any = AnyOfBuilder::new().item(own).item(error_body.clone());
            Content::new(Some(Schema::AnyOf(any.build())))
        };
        let mut response = ResponseBuilder::new().description(error_reason(status));
        response = match errors {
            Errors::Json => response.content("application/json", Content::new(Some(error_body))),
            Errors::Otlp => response
                .content(
                    "application/json",
                    either(self.schema::<super::ingest::OtlpStatus>()),
                )
                .content("application/x-protobuf", binary()),
            Errors::Elastic => response.content("application/json", either(any_object())),
            Errors::Text => response
                .content("text/plain", text())
                .content("application/json", Content::new(Some(error_body))),
        };
        if matches!(status, 429 | 503 | 507) {
            let seconds = ObjectBuilder::new().schema_type(Type::Integer).build();
            let header = HeaderBuilder::new()
                .schema(Some(seconds))
                .description(Some("Seconds to wait before trying again."));
            response = response.header("Retry-After", header.build());
        }
        if status == 401 {
            let header = HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
                .description(Some(
                    "Bearer, and Basic for Loki and Elasticsearch clients.",
                ));
            response = response.header("WWW-Authenticate", header.build());
        }
        response.build()
    }

    /// What each route takes and answers (see the handlers in `api`).
    fn describe(&mut self, path: &str, method: &str) -> Option<Described> {
        let described = match (path, method) {
            ("/api/ingest", "POST") => self.native_ingest(),
            ("/v1/logs", "POST") => self.otlp(),
            ("/loki/api/v1/push", "POST") => self.loki(),
            ("/_bulk" | "/{index}/_bulk", "POST" | "PUT") => self.bulk(path),
            ("/" | "/_license" | "/_xpack" | "/_cluster/health", "GET" | "HEAD") => {
                self.elastic_probe(method)
            }
            (
                "/_index_template/{name}"
                | "/_template/{name}"
                | "/_component_template/{name}"
                | "/_ilm/policy/{name}"
                | "/_ingest/pipeline/{name}",
                "PUT",
            ) => self.elastic_setup(),
            ("/api/logs" | "/api/ingest/logs", "GET") => {
                let ok = self.json::<LogsAnswer>();
                self.query::<SearchParams>(
                    "Records a page at a time, or the table of a query with stats, top or fields",
                    ok,
                )
            }
            ("/api/logs/{id}/context", "GET") => self.context(),
            ("/api/stats/histogram", "GET") => {
                let ok = self.json::<Histogram>();
                self.query::<HistogramParams>("Counts per time bucket and level", ok)
            }
            ("/api/stats/facets", "GET") => {
                let ok = self.json::<Facets>();
                self.query::<FacetParams>("The most frequent values of a field", ok)
            }
            ("/api/fields", "GET") => {
                let ok = self.json::<FieldList>();
                self.query::<FieldsParams>("The attribute names of the matching records", ok)
            }
            ("/api/tail", "GET") => self.tail(),
            ("/metrics", "GET") => metrics(),
            ("/api/health", "GET") => self.health(),
            ("/ready", "GET") => ready(),
            ("/api/openapi.json", "GET") => Described {
                summary: "This document",
                tag: "operations",
                parameters: Vec::new(),
                body: None,
                success: vec![(200, ok("The OpenAPI document", json_object()))],
                errors: Errors::Json,
                error_statuses: &[],
            },
            _ => return None,
        };
        Some(described)
    }

    fn native_ingest(&mut self) -> Described {
        let record = self.schema::<IngestRecord>();
        let batch = ArrayBuilder::new()
            .items(record.clone())
            .min_items(Some(1))
            .max_items(Some(MAX_BATCH_RECORDS));
        let one_or_many = AnyOfBuilder::new().item(record).item(batch.build());
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some(
                "One record, a JSON array of records, or NDJSON (one record per line); \
                 gzip, deflate or zstd with Content-Encoding.",
            ))
            .content(
                "application/json",
                Content::new(Some(Schema::AnyOf(one_or_many.build()))),
            )
            .content("application/x-ndjson", text());
        let replayed = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
            .description(Some(
                "true when an Idempotency-Key request stored before is answered again.",
            ));
        let accepted = ResponseBuilder::new()
            .description("Stored durably")
            .content("application/json", self.json::<IngestAccepted>())
            .header("Idempotent-Replayed", replayed.build())
            .link("context", context_of_stored_record())
            .build();
        let mut parameters = super::ingest::FieldNames::into_params(|| Some(ParameterIn::Query));
        parameters.push(idempotency_key());
        Described {
            summary: "Store records; a batch with a bad record is refused whole",
            tag: "ingest",
            parameters,
            body: Some(body),
            success: vec![(202, accepted)],
            errors: Errors::Json,
            error_statuses: INGEST_ERRORS,
        }
    }

    fn otlp(&mut self) -> Described {
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some("An OTLP ExportLogsServiceRequest."))
            .content("application/x-protobuf", binary())
            .content("application/json", Content::new(Some(any_object())));
        let answer = ResponseBuilder::new()
            .description(
                "An ExportLogsServiceResponse in the request's encoding; partialSuccess counts \
                 the records not taken",
            )
            .content("application/x-protobuf", binary())
            .content("application/json", Content::new(Some(any_object())))
            .build();
        Described {
            summary: "OTLP/HTTP logs",
            tag: "ingest",
            parameters: Vec::new(),
            body: Some(body),
            success: vec![(200, answer)],
            errors: Errors::Otlp,
            // A full disk is answered 503, which OTLP clients retry.
            error_statuses: &[400, 408, 413, 415, 422, 429, 503],
        }
    }

    fn loki(&mut self) -> Described {
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some(
                "A Loki push request: snappy-compressed protobuf, or JSON.",
            ))
            .content("application/x-protobuf", binary())
            .content("application/json", self.json::<super::ingest::LokiPush>());
        Described {
            summary: "Loki push; entries that cannot be taken are named in a 400, the rest stored",
            tag: "ingest",
            parameters: Vec::new(),
            body: Some(body),
            success: vec![(204, ResponseBuilder::new().description("Stored").build())],
            errors: Errors::Text,
            error_statuses: INGEST_ERRORS,
        }
    }

    fn bulk(&mut self, path: &str) -> Described {
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some(
                "Elasticsearch bulk NDJSON: action lines, each but delete followed by its document.",
            ))
            .content("application/x-ndjson", text())
            .content("application/json", text());
        let mut parameters = Vec::new();
        if path.contains("{index}") {
            parameters.push(path_parameter("index", "The default index (the service)"));
        }
        Described {
            summary: "Elasticsearch bulk; each action has its own status in items",
            tag: "elasticsearch",
            parameters,
            body: Some(body),
            success: vec![(200, ok("A bulk response", json_object()))],
            errors: Errors::Elastic,
            error_statuses: INGEST_ERRORS,
        }
    }

    /// The answers Elasticsearch clients and shippers check at start.
    fn elastic_probe(&mut self, method: &str) -> Described {
        let success = if method == "HEAD" {
            ResponseBuilder::new()
                .description("An Elasticsearch 8 server")
                .build()
        } else {
            ok("As an Elasticsearch 8 server answers", json_object())
        };
        Described {
            summary: "An Elasticsearch probe",
            tag: "elasticsearch",
            parameters: Vec::new(),
            body: None,
            success: vec![(200, success)],
            errors: Errors::Elastic,
            error_statuses: &[],
        }
    }

    fn elastic_setup(&mut self) -> Described {
        let body = RequestBodyBuilder::new()
            .description(Some(
                "Ignored: LogStream keeps no templates, policies or pipelines.",
            ))
            .content("application/json", Content::new(Some(any_object())));
        Described {
            summary: "Acknowledges an index template, ILM policy or ingest pipeline",
            tag: "elasticsearch",
            parameters: vec![path_parameter("name", "Its name")],
            body: Some(body),
            success: vec![(200, ok("{\"acknowledged\": true}", json_object()))],
            errors: Errors::Elastic,
            error_statuses: &[],
        }
    }

    /// A query with the parameters `P`, answered `answer`.
    fn query<P: IntoParams>(&mut self, summary: &'static str, answer: Content) -> Described {
        let answer = ResponseBuilder::new()
            .description("The answer")
            .content("application/json", answer)
            .build();
        Described {
            summary,
            tag: "query",
            parameters: P::into_params(|| Some(ParameterIn::Query)),
            body: None,
            success: vec![(200, answer)],
            errors: Errors::Json,
            error_statuses: QUERY_ERRORS,
        }
    }

    fn context(&mut self) -> Described {
        let answer = self.json::<ContextPage>();
        let mut described = self.query::<ContextParams>(
            "A record and its neighbours from the same service and host",
            answer,
        );
        described
            .parameters
            .insert(0, path_parameter("id", "The record's id"));
        described.error_statuses = &[400, 404, 408, 503, 507];
        described
    }

    fn tail(&mut self) -> Described {
        let stream = ResponseBuilder::new()
            .description(
                "Server-Sent Events: an event record per record (data: its JSON, id: a resume \
                 cursor), lagged (data: TailLagged) when the client fell behind",
            )
            .content("text/event-stream", text())
            .build();
        let mut parameters = TailParams::into_params(|| Some(ParameterIn::Query));
        parameters.push(
            ParameterBuilder::new()
                .name("Last-Event-ID")
                .parameter_in(ParameterIn::Header)
                .description(Some("Resume after this record (what EventSource sends)."))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
                .build(),
        );
        self.schema::<logstream_shared::api::TailLagged>();
        Described {
            summary: "The live tail of matching records",
            tag: "query",
            parameters,
            body: None,
            success: vec![(200, stream)],
            errors: Errors::Json,
            error_statuses: &[400, 503],
        }
    }

    fn health(&mut self) -> Described {
        let health = self.json::<Health>();
        let healthy = ResponseBuilder::new()
            .description("Serving; the store is named to readers only once tokens are configured")
            .content("application/json", health.clone())
            .build();
        let full = ResponseBuilder::new()
            .description("The store's disk is full (status disk_full)")
            .content("application/json", health)
            .build();
        Described {
            summary: "Liveness, for health checks (no token needed)",
            tag: "operations",
            parameters: Vec::new(),
            body: None,
            success: vec![(200, healthy), (507, full)],
            errors: Errors::Json,
            error_statuses: &[503],
        }
    }
}

fn metrics() -> Described {
    let text = ResponseBuilder::new()
        .description("Prometheus metrics in the OpenMetrics text format")
        .content("application/openmetrics-text", text())
        .build();
    Described {
        summary: "Metrics",
        tag: "operations",
        parameters: Vec::new(),
        body: None,
        success: vec![(200, text)],
        errors: Errors::Json,
        error_statuses: &[408],
    }
}

fn ready() -> Described {
    let ready = ResponseBuilder::new()
        .description("ready")
        .content("text/plain", text())
        .build();
    Described {
        summary: "Loki's readiness check, in plain text",
        tag: "ingest",
        parameters: Vec::new(),
        body: None,
        success: vec![(200, ready)],
        errors: Errors::Text,
        error_statuses: &[503, 507],
    }
}

/// `get_api_logs_id_context` for `GET /api/logs/{id}/context`: unique, as
/// each route has each method once.
fn operation_id(path: &str, method: &str) -> String {
    let words = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty());
    std::iter::once(method.to_ascii_lowercase())
        .chain(words.map(str::to_string))
        .collect::<Vec<_>>()
        .join("_")
}

/// The record that one stored object names (a batch answers `ids`
/// instead): schemathesis follows it to ask for the record's context.
fn context_of_stored_record() -> Link {
    LinkBuilder::new()
        .operation_id(operation_id("/api/logs/{id}/context", "GET"))
        .parameter("id", "$response.body#/id")
        .description("The stored record's context, by the id of a single object.")
        .build()
}

fn ok(description: &str, content: Content) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
}

fn text() -> Content {
    Content::new(Some(ObjectBuilder::new().schema_type(Type::String).build()))
}

fn binary() -> Content {
    let bytes = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
    Content::new(Some(bytes.build()))
}

fn any_object() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .build()
        .into()
}

fn json_object() -> Content {
    Content::new(Some(any_object()))
}

fn path_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
        .build()
}

fn idempotency_key() -> Parameter {
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(super::ingest::MAX_KEY_LEN));
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "Names the request: a retry with the same body is answered as the first time and \
             not stored twice; the same key with another body is a 422.",
        ))
        .schema(Some(key.build()))
        .build()
}

fn error_reason(status: u16) -> &'static str {
    match status {
        400 => "A bad request: what is wrong is in error, and per field in details",
        401 => "No known access token (tokens are configured)",
        403 => "The token's scope does not cover this route",
        404 => "Not found",
        408 => "The request (or its body) did not arrive in time",
        413 => "The body (after decompression) or the batch is over the limits",
        415 => "A Content-Encoding or Content-Type the route does not take",
        422 => "An Idempotency-Key sent before with another body",
        429 => "The ingest queue or the memory for request bodies is full",
        503 => "The store failed, or the daemon serves all the connections it may",
        507 => "The store's disk is full; nothing of the request was stored",
        _ => "An error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document_json() -> serde_json::Value {
        serde_json::to_value(document()).unwrap()
    }

    #[test]
    fn every_route_and_method_is_described() {
        let document = document_json();
        for route in ROUTES {
            for method in route.methods {
                let operation = &document["paths"][route.path][method.to_lowercase()];
                assert!(
                    operation.is_object(),
                    "{method} {} is not in the OpenAPI document: describe it in \
                     api::openapi::Document::describe",
                    route.path
                );
            }
        }
    }

    #[test]
    fn guarded_routes_name_their_scope_and_answer_401_and_403() {
        let document = document_json();
        for route in ROUTES {
            let operation = &document["paths"][route.path][route.methods[0].to_lowercase()];
            let security = &operation["security"];
            match route.scope {
                Some(scope) => {
                    assert_eq!(security[0]["bearer"][0], scope.as_str(), "{}", route.path);
                    for status in ["401", "403"] {
                        assert!(operation["responses"][status].is_object(), "{}", route.path);
                    }
                }
                None => assert!(security.is_null(), "{}", route.path),
            }
        }
    }

    /// Every `$ref` names a schema of the document.
    #[test]
    fn references_resolve() {
        let document = document_json();
        let text = document.to_string();
        let schemas = &document["components"]["schemas"];
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap();
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas[name].is_object(), "{target} is not in components");
        }
    }

    #[test]
    fn operation_ids_are_unique_and_links_name_one() {
        let document = document_json();
        let mut ids: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|operation| operation["operationId"].as_str().unwrap())
            .collect();
        let context = &document["paths"]["/api/ingest"]["post"]["responses"]["202"]["links"];
        assert!(ids.contains(&context["context"]["operationId"].as_str().unwrap()));
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn ingest_documents_its_body_and_errors() {
        let document = document_json();
        let ingest = &document["paths"]["/api/ingest"]["post"];
        let record = &document["components"]["schemas"]["IngestRecord"];
        assert_eq!(
            record["required"],
            serde_json::json!(["service", "message"])
        );
        for status in ["202", "400", "413", "415", "422", "429", "503", "507"] {
            assert!(ingest["responses"][status].is_object(), "{status}");
        }
        let parameters = ingest["parameters"].to_string();
        assert!(parameters.contains("message_field"), "{parameters}");
        assert!(parameters.contains("Idempotency-Key"), "{parameters}");
    }
}
