/* Record flags -> POST/PATCH body (record_args.h). */
#include "record_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "contact.h"

const char *hl_cli_channel_name(int i)
{
    return hl_contact_channel_name((hl_channel_t)i);
}
const char *hl_cli_type_name(int i)
{
    return hl_contact_type_name((hl_contact_type_t)i);
}
const char *hl_cli_gender_name(int i)
{
    return hl_contact_gender_name((hl_gender_t)i);
}
const char *hl_cli_region_name(int i)
{
    return hl_contact_region_name((hl_region_t)i);
}
const char *hl_cli_relationship_name(int i)
{
    return hl_contact_relationship_name((hl_relationship_t)i);
}
const char *hl_cli_action_name(int i)
{
    return hl_contact_action_name((hl_action_t)i);
}
const char *hl_cli_urgency_name(int i)
{
    return hl_contact_urgency_name((hl_urgency_t)i);
}

HL_PRINTF(3, 4) static void seterr(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

void hl_cli_vocab_list(const char *(*name)(int), int n, char *out, size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i > 0 ? " " : "", name(i));
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int64_t hl_cli_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum {
    OPT_JSON = 0x200,
    OPT_CHANNEL,
    OPT_TYPE,
    OPT_STARTED,
    OPT_ENDED,
    OPT_DURATION,
    OPT_AGE,
    OPT_GENDER,
    OPT_REGION,
    OPT_RELATIONSHIP,
    OPT_CATEGORY,
    OPT_LOCAL,
    OPT_ACTION,
    OPT_URGENCY,
    OPT_SUMMARY_FILE,
    OPT_SOURCE_ID,
    OPT_CONFIRM,
    OPT_PRINT_JSON
};

static const struct option longopts[] = {
    {"json", required_argument, NULL, OPT_JSON},
    {"channel", required_argument, NULL, OPT_CHANNEL},
    {"type", required_argument, NULL, OPT_TYPE},
    {"contact-type", required_argument, NULL, OPT_TYPE},
    {"started-at", required_argument, NULL, OPT_STARTED},
    {"ended-at", required_argument, NULL, OPT_ENDED},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"age", required_argument, NULL, OPT_AGE},
    {"gender", required_argument, NULL, OPT_GENDER},
    {"region", required_argument, NULL, OPT_REGION},
    {"relationship", required_argument, NULL, OPT_RELATIONSHIP},
    {"category", required_argument, NULL, OPT_CATEGORY},
    {"local-category", required_argument, NULL, OPT_LOCAL},
    {"action", required_argument, NULL, OPT_ACTION},
    {"urgency", required_argument, NULL, OPT_URGENCY},
    {"summary-file", required_argument, NULL, OPT_SUMMARY_FILE},
    {"source-id", required_argument, NULL, OPT_SOURCE_ID},
    {"confirm-suggested", no_argument, NULL, OPT_CONFIRM},
    {"print-json", no_argument, NULL, OPT_PRINT_JSON},
    HL_CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

/* The member KEY of BODY's object PARENT (created when missing). */
static json_t *sub(json_t *body, const char *parent)
{
    json_t *o = json_object_get(body, parent);

    if (!json_is_object(o)) {
        o = json_object();
        if (o == NULL || json_object_set_new(body, parent, o) != 0)
            return NULL;
    }
    return o;
}

/* Sets OBJ.KEY to the vocabulary word ARG when NAME(i) knows it. */
static int set_vocab(json_t *obj, const char *key, const char *flag, const char *arg,
                     const char *(*name)(int), char *err, size_t errlen)
{
    char list[400];

    for (int i = 0; name(i) != NULL; i++) {
        if (strcmp(name(i), arg) == 0)
            return obj != NULL && json_object_set_new(obj, key, json_string(arg)) == 0 ? HL_OK : HL_ENOMEM;
    }
    int n = 0;
    while (name(n) != NULL)
        n++;
    hl_cli_vocab_list(name, n, list, sizeof(list));
    seterr(err, errlen, "--%s must be one of: %s", flag, list);
    return HL_EINVAL;
}

static int append(json_t *body, const char *key, const char *value)
{
    json_t *a = json_object_get(body, key);

    if (!json_is_array(a)) {
        a = json_array();
        if (a == NULL || json_object_set_new(body, key, a) != 0)
            return HL_ENOMEM;
    }
    return json_array_append_new(a, json_string(value)) == 0 ? HL_OK : HL_ENOMEM;
}

static bool parse_time(const char *arg, int64_t now_us, int64_t *us)
{
    if (strcmp(arg, "now") == 0) {
        *us = now_us;
        return true;
    }
    return hl_contact_time_parse(arg, strlen(arg), us);
}

static int set_time(json_t *body, const char *key, int64_t us)
{
    char buf[HL_CONTACT_TIME_LEN];

    if (!hl_contact_time_format(us - us % 1000000, buf))
        return HL_EINVAL;
    return json_object_set_new(body, key, json_string(buf)) == 0 ? HL_OK : HL_ENOMEM;
}

int hl_cli_record_args_parse(hl_cli_ctx_t *ctx, int argc, char **argv, bool patch, int64_t now_us,
                             hl_cli_record_args_t *out, char *err, size_t errlen)
{
    hl_cli_record_args_t a = {0};
    int64_t started = INT64_MIN, ended = INT64_MIN;
    long duration = -1;
    char *summary = NULL;
    size_t summary_len = 0;
    int rc = HL_ENOMEM, opt;

    err[0] = '\0';
    a.body = json_object();
    if (a.body == NULL)
        goto out;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *arg = optarg;
        rc = HL_OK;
        if (hl_cli_common_opt(ctx, opt, arg))
            continue;
        switch (opt) {
        case 'h':
            a.help = true;
            break;
        case OPT_PRINT_JSON:
            a.print_json = true;
            break;
        case OPT_JSON:
            a.json_file = arg;
            break;
        case OPT_CHANNEL:
            rc = set_vocab(a.body, "channel", "channel", arg, hl_cli_channel_name, err, errlen);
            break;
        case OPT_TYPE:
            rc = set_vocab(a.body, "contact_type", "type", arg, hl_cli_type_name, err, errlen);
            break;
        case OPT_STARTED:
        case OPT_ENDED: {
            int64_t us;
            if (!parse_time(arg, now_us, &us)) {
                seterr(err, errlen, "--%s must be 'now' or an RFC 3339 time like 2026-11-22T10:00:00Z",
                       opt == OPT_STARTED ? "started-at" : "ended-at");
                rc = HL_EINVAL;
            }
            *(opt == OPT_STARTED ? &started : &ended) = us;
            a.n_fields++;
            break;
        }
        case OPT_DURATION: {
            char *end;
            errno = 0;
            duration = strtol(arg, &end, 10);
            if (errno != 0 || end == arg || *end != '\0' || duration < 0 || duration > 24 * 60) {
                seterr(err, errlen, "--duration must be minutes, 0..1440");
                rc = HL_EINVAL;
            }
            a.n_fields++;
            break;
        }
        case OPT_AGE: {
            json_t *child = sub(a.body, "child");
            char *end;
            long age;
            if (child == NULL) {
                rc = HL_ENOMEM;
                break;
            }
            if (strcmp(arg, "unknown") == 0) {
                rc = json_object_set_new(child, "age", json_null()) == 0 ? HL_OK : HL_ENOMEM;
                break;
            }
            errno = 0;
            age = strtol(arg, &end, 10);
            if (errno != 0 || end == arg || *end != '\0' || age < 0 || age > HL_CONTACT_AGE_MAX) {
                seterr(err, errlen, "--age must be 0..%d or 'unknown'", HL_CONTACT_AGE_MAX);
                rc = HL_EINVAL;
                break;
            }
            rc = json_object_set_new(child, "age", json_integer(age)) == 0 ? HL_OK : HL_ENOMEM;
            break;
        }
        case OPT_GENDER:
            rc = set_vocab(sub(a.body, "child"), "gender", "gender", arg, hl_cli_gender_name, err, errlen);
            break;
        case OPT_REGION:
            rc = set_vocab(sub(a.body, "child"), "region", "region", arg, hl_cli_region_name, err, errlen);
            break;
        case OPT_RELATIONSHIP:
            rc = set_vocab(sub(a.body, "caller"), "relationship", "relationship", arg,
                           hl_cli_relationship_name, err, errlen);
            break;
        case OPT_CATEGORY:
            rc = append(a.body, "categories", arg);
            break;
        case OPT_LOCAL:
            rc = append(a.body, "local_categories", arg);
            break;
        case OPT_ACTION: {
            json_t *tmp = json_object();
            rc =
                tmp == NULL ? HL_ENOMEM : set_vocab(tmp, "a", "action", arg, hl_cli_action_name, err, errlen);
            json_decref(tmp);
            if (rc == HL_OK)
                rc = append(a.body, "actions", arg);
            break;
        }
        case OPT_URGENCY:
            rc = set_vocab(a.body, "urgency", "urgency", arg, hl_cli_urgency_name, err, errlen);
            break;
        case OPT_SUMMARY_FILE:
            if (summary != NULL) {
                seterr(err, errlen, "--summary-file given twice");
                rc = HL_EINVAL;
                break;
            }
            rc = hl_cli_read_file(arg, &summary, &summary_len);
            if (rc == HL_EIO)
                seterr(err, errlen, "cannot read --summary-file %s: %s", arg, strerror(errno));
            else if (rc == HL_OK &&
                     json_object_set_new(a.body, "summary", json_stringn(summary, summary_len)) != 0) {
                seterr(err, errlen, "--summary-file %s is not UTF-8 text", arg);
                rc = HL_EINVAL;
            }
            break;
        case OPT_SOURCE_ID:
            rc = json_object_set_new(sub(a.body, "source"), "id", json_string(arg)) == 0 ? HL_OK : HL_EINVAL;
            if (rc != HL_OK)
                seterr(err, errlen, "--source-id must be UTF-8 text");
            break;
        case OPT_CONFIRM:
            rc = json_object_set_new(a.body, "confirm_suggested", json_true()) == 0 ? HL_OK : HL_ENOMEM;
            break;
        case ':':
            seterr(err, errlen, "%s needs a value", argv[optind - 1]);
            rc = HL_EINVAL;
            break;
        default:
            seterr(err, errlen, "unknown option %s", argv[optind - 1]);
            rc = HL_EINVAL;
            break;
        }
        if (rc != HL_OK)
            goto out;
        if (opt != 'h' && opt != OPT_PRINT_JSON && opt != OPT_JSON && opt != OPT_STARTED &&
            opt != OPT_ENDED && opt != OPT_DURATION)
            a.n_fields++;
    }
    rc = HL_EINVAL;
    if (a.help) {
        rc = HL_OK;
        goto done;
    }
    if (patch) {
        if (optind >= argc) {
            seterr(err, errlen, "which contact? give its ID");
            goto out;
        }
        a.id = argv[optind++];
        const char *forbidden[] = {"source", "channel"};
        for (size_t i = 0; i < HL_ARRAY_LEN(forbidden); i++) {
            if (json_object_get(a.body, forbidden[i]) != NULL) {
                seterr(err, errlen, "%s cannot be changed after logging",
                       strcmp(forbidden[i], "source") == 0 ? "--source-id" : "--channel");
                goto out;
            }
        }
        if (started != INT64_MIN || ended != INT64_MIN || duration >= 0) {
            seterr(err, errlen, "the times cannot be changed after logging");
            goto out;
        }
    } else if (json_object_get(a.body, "confirm_suggested") != NULL) {
        seterr(err, errlen, "--confirm-suggested is for helpline update");
        goto out;
    }
    if (optind < argc) {
        seterr(err, errlen, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (a.json_file != NULL && a.n_fields > 0) {
        seterr(err, errlen, "--json and record flags cannot be mixed");
        goto out;
    }
    if (started == INT64_MIN && (ended != INT64_MIN || duration >= 0))
        started = now_us;
    if (started != INT64_MIN && (rc = set_time(a.body, "started_at", started)) != HL_OK)
        goto out;
    if (ended == INT64_MIN && duration >= 0)
        ended = started + (int64_t)duration * 60 * 1000000;
    if (ended != INT64_MIN && (rc = set_time(a.body, "ended_at", ended)) != HL_OK)
        goto out;
    rc = HL_EINVAL;
    if (ended != INT64_MIN && ended < started) {
        seterr(err, errlen, "--ended-at is before --started-at");
        goto out;
    }
    if (patch && a.json_file == NULL && a.n_fields == 0) {
        seterr(err, errlen, "nothing to change: give record flags or --json FILE");
        goto out;
    }
done:
    *out = a;
    a.body = NULL;
    rc = HL_OK;
out:
    hl_cli_wipe_free(summary, summary_len + 1);
    hl_contact_json_free(a.body);
    return rc;
}

void hl_cli_record_args_free(hl_cli_record_args_t *a)
{
    hl_contact_json_free(a->body);
    a->body = NULL;
}

int hl_cli_record_complete(json_t *body, int64_t now_us, char *err, size_t errlen)
{
    json_t *source = sub(body, "source");
    uint8_t rnd[12];
    char id[64];
    int rc;

    if (source == NULL)
        return HL_ENOMEM;
    if (json_object_get(body, "channel") == NULL) {
        seterr(err, errlen, "--channel is required (phone, chat, ...)");
        return HL_EINVAL;
    }
    if (json_object_get(body, "contact_type") == NULL) {
        seterr(err, errlen, "--type is required (counselling, information, referral, silent, ...)");
        return HL_EINVAL;
    }
    if (json_object_get(source, "system") == NULL &&
        json_object_set_new(source, "system", json_string("helpline-cli")) != 0)
        return HL_ENOMEM;
    if (json_object_get(source, "id") == NULL) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return HL_EIO;
        size_t n = (size_t)snprintf(id, sizeof(id), "%lld-", (long long)(now_us / 1000000));
        for (size_t i = 0; i < sizeof(rnd); i++)
            n += (size_t)snprintf(id + n, sizeof(id) - n, "%02x", rnd[i]);
        if (json_object_set_new(source, "id", json_string(id)) != 0)
            return HL_ENOMEM;
    }
    if (json_object_get(body, "started_at") == NULL && (rc = set_time(body, "started_at", now_us)) != HL_OK)
        return rc;
    return HL_OK;
}
