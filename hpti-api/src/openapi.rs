//! The OpenAPI 3.1 description, generated from the handlers' annotations.

use utoipa::Modify;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routes;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "hpti analyst API",
        description = "What hpti's sensors captured: events, sessions, attackers, credentials, commands and files. Every request needs `Authorization: Bearer <token>` (`hpti api token create`)."
    ),
    paths(
        routes::events,
        routes::sessions,
        routes::session,
        routes::recording,
        routes::attackers,
        routes::attacker,
        routes::credentials,
        routes::commands,
        crate::downloads::downloads,
        crate::downloads::download,
        crate::downloads::content,
        routes::alerts,
        crate::blocklist::blocklist,
        routes::timeseries,
        routes::health,
        routes::openapi_json,
    ),
    components(schemas(crate::error::ErrorBody, routes::EventsPage, routes::SessionView, routes::Timeseries, crate::downloads::DownloadView)),
    modifiers(&Bearer)
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's OpenAPI 3.1 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
