/* The HTTP API of api.md: paths, methods and the roles allowed on each. */
#include "app.h"

#define WRITERS (HL_ROLE_FRONTEND | HL_ROLE_COUNSELLOR | HL_ROLE_ADMIN)
#define READERS (HL_ROLE_COUNSELLOR | HL_ROLE_SUPERVISOR | HL_ROLE_ADMIN)
#define CASES   (HL_ROLE_COUNSELLOR | HL_ROLE_SUPERVISOR | HL_ROLE_ADMIN)

const hl_route_t hl_routes[] = {
    {HL_METHOD_POST, "/v1/contacts", WRITERS, true, hl_handle_contacts_create, "contacts_create", NULL},
    {HL_METHOD_GET, "/v1/contacts", READERS, false, hl_handle_contacts_list, "contacts_list", NULL},
    {HL_METHOD_GET, "/v1/contacts/*", READERS, false, hl_handle_contacts_get, "contacts_get", NULL},
    {HL_METHOD_PATCH, "/v1/contacts/*", HL_ROLE_COUNSELLOR | HL_ROLE_ADMIN, true, hl_handle_contacts_patch,
     "contacts_patch", NULL},
    /* Cases: which caller may do what to one case is the handlers' business (handlers_cases.c). */
    {HL_METHOD_POST, "/v1/cases", CASES, true, hl_handle_cases_create, "cases_create", NULL},
    {HL_METHOD_GET, "/v1/cases", CASES, false, hl_handle_cases_list, "cases_list", NULL},
    {HL_METHOD_GET, "/v1/cases/*", CASES, false, hl_handle_cases_get, "cases_get", NULL},
    {HL_METHOD_PATCH, "/v1/cases/*", CASES, true, hl_handle_cases_patch, "cases_patch", NULL},
    {HL_METHOD_POST, "/v1/cases/*/notes", CASES, true, hl_handle_cases_note, "cases_note", NULL},
    {HL_METHOD_POST, "/v1/cases/*/referrals", CASES, true, hl_handle_cases_referral, "cases_referral", NULL},
    {HL_METHOD_PATCH, "/v1/cases/*/referrals/*", CASES, true, hl_handle_cases_referral_patch,
     "cases_referral_patch", NULL},
    {HL_METHOD_PUT, "/v1/cases/*/contacts/*", CASES, false, hl_handle_cases_link, "cases_link", NULL},
    {HL_METHOD_DELETE, "/v1/cases/*/contacts/*", CASES, false, hl_handle_cases_unlink, "cases_unlink", NULL},
    {HL_METHOD_GET, "/v1/taxonomy", HL_ROLE_ANY, false, hl_handle_taxonomy, "taxonomy", NULL},
    {HL_METHOD_POST, "/v1/classify", HL_ROLE_ANY & ~HL_ROLE_FRONTEND, true, hl_handle_classify, "classify",
     NULL},
    {HL_METHOD_GET, "/v1/stats", HL_ROLE_SUPERVISOR | HL_ROLE_NETWORK | HL_ROLE_ADMIN, false, hl_handle_stats,
     "stats", NULL},
    {HL_METHOD_GET, "/v1/reports/quarterly", HL_ROLE_NETWORK | HL_ROLE_ADMIN, false, hl_handle_report,
     "reports_quarterly", NULL},
    {HL_METHOD_POST, "/v1/reports/verify", HL_ROLE_NETWORK | HL_ROLE_ADMIN, true, hl_handle_reports_verify,
     "reports_verify", NULL},
    {HL_METHOD_GET, "/v1/helplines", HL_ROLE_ANY & ~HL_ROLE_FRONTEND, false, hl_handle_helplines, "helplines",
     NULL},
    /* Web sessions (handlers_session.c): logging in takes no credentials; GET answers a caller
     * without a session itself (its 401 says how many helplines the login form must offer). */
    {HL_METHOD_POST, "/v1/session", 0, true, hl_handle_session_create, "session_create", NULL},
    {HL_METHOD_GET, "/v1/session", 0, false, hl_handle_session_get, "session_get", hl_admit_session_get},
    {HL_METHOD_DELETE, "/v1/session", HL_ROLE_ANY & ~HL_ROLE_FRONTEND, false, hl_handle_session_delete,
     "session_delete", NULL},
    /* The users of the admin's own helpline (handlers_users.c). */
    {HL_METHOD_GET, "/v1/users", HL_ROLE_ADMIN, false, hl_handle_users_list, "users_list", NULL},
    {HL_METHOD_POST, "/v1/users", HL_ROLE_ADMIN, true, hl_handle_users_create, "users_create", NULL},
    {HL_METHOD_PUT, "/v1/users/*/password", HL_ROLE_ADMIN, true, hl_handle_users_password, "users_password",
     NULL},
    {HL_METHOD_DELETE, "/v1/users/*", HL_ROLE_ADMIN, false, hl_handle_users_revoke, "users_revoke", NULL},
    /* No bearer token: Rocket.Chat's shared secret, checked from the headers before the body. */
    {HL_METHOD_POST, "/v1/ingest/rocketchat", 0, true, hl_handle_ingest_rocketchat, "ingest_rocketchat",
     hl_admit_ingest_rocketchat},
    {HL_METHOD_GET, "/healthz", 0, false, hl_handle_healthz, "healthz", NULL},
    {HL_METHOD_GET, "/metrics", HL_ROLE_ADMIN, false, hl_handle_metrics, "metrics", NULL},
    /* Every other path outside /v1, no token: the web application's files (http/webfiles.h). */
    {HL_METHOD_GET, "/**", 0, false, hl_handle_web, "web", NULL},
};

const size_t hl_n_routes = sizeof(hl_routes) / sizeof(hl_routes[0]);
