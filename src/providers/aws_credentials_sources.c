/* aws_credentials_sources.c — what the AWS credential chain reads, without
 * any I/O of its own: the shared credentials/config files, the answers of
 * the credentials endpoints (container and IMDS JSON, STS XML) and their
 * Expiration timestamps.
 *
 * Kept apart from aws_credentials.c (the cache, the queue and the chain
 * walk) so the formats can be read and tested on their own. */
#include "aws_credentials_internal.h"
#include "core/str.h"
#include "core/wipe.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cmx_awsc_wipe_free(char *s)
{
    cmx_free_secret(s);
}

char *cmx_awsc_read_small_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    int too_big = buf && n == max && fgetc(f) != EOF;
    fclose(f);
    if (!buf || too_big) {
        if (buf)
            cmx_wipe(buf, n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    /* tokens are written with a trailing newline more often than not */
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return buf;
}

int64_t cmx_awsc_parse_time(const char *s)
{
    int y, mo, d, h, mi, sec;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

static int set_key(char **dst, const char *v)
{
    char *c = strdup(v);
    if (!c)
        return -1;
    cmx_awsc_wipe_free(*dst);
    *dst = c;
    return 0;
}

int cmx_awsc_take_json(const char *body, size_t len, cmx_awsc_keys *out)
{
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(root, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(root, "Token"));
    const char *exp = json_string_value(json_object_get(root, "Expiration"));
    int rc = -1;
    if (id && *id && secret && *secret) {
        rc = set_key(&out->access_key_id, id) | set_key(&out->secret_access_key, secret);
        if (token && *token)
            rc |= set_key(&out->session_token, token);
        out->expiration = exp ? cmx_awsc_parse_time(exp) : -1;
    }
    json_decref(root);
    return rc ? -1 : 0;
}

/* The text of the first <tag>...</tag> after `from`, copied into a new
 * string; NULL if absent. */
static char *xml_text(const char *from, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(from, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    return b ? strndup(a, (size_t)(b - a)) : NULL;
}

int cmx_awsc_take_sts_xml(const char *body, cmx_awsc_keys *out)
{
    const char *creds = body ? strstr(body, "<Credentials>") : NULL;
    if (!creds)
        return -1;
    char *id = xml_text(creds, "AccessKeyId");
    char *secret = xml_text(creds, "SecretAccessKey");
    char *token = xml_text(creds, "SessionToken");
    char *exp = xml_text(creds, "Expiration");
    int rc = -1;
    if (id && *id && secret && *secret) {
        cmx_awsc_wipe_free(out->access_key_id);
        cmx_awsc_wipe_free(out->secret_access_key);
        cmx_awsc_wipe_free(out->session_token);
        out->access_key_id = id;
        out->secret_access_key = secret;
        out->session_token = token;
        id = secret = token = NULL;
        out->expiration = exp ? cmx_awsc_parse_time(exp) : -1;
        rc = 0;
    }
    cmx_awsc_wipe_free(id);
    cmx_awsc_wipe_free(secret);
    cmx_awsc_wipe_free(token);
    free(exp);
    return rc;
}

void cmx_awsc_sts_error_code(const char *body, char *code, size_t cap)
{
    code[0] = '\0';
    const char *e = body ? strstr(body, "<Error>") : NULL;
    char *c = e ? xml_text(e, "Code") : NULL;
    if (c) {
        for (char *p = c; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
                *p = '?'; /* a code, not free text: it goes into a message */
        snprintf(code, cap, "%s", c);
        free(c);
    }
}

void cmx_awsc_profile_free(cmx_awsc_profile *p)
{
    cmx_awsc_wipe_free(p->keys.access_key_id);
    cmx_awsc_wipe_free(p->keys.secret_access_key);
    cmx_awsc_wipe_free(p->keys.session_token);
    free(p->role_arn);
    free(p->web_identity_token_file);
    free(p->role_session_name);
    memset(p, 0, sizeof *p);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Reads `profile`'s keys from one INI file; a key already set is
 * overwritten (the credentials file is read after the config file, and
 * wins, as in the SDKs).  Returns 1 if the section was found. */
static int read_ini(const char *path, const char *profile, int config_file, cmx_awsc_profile *out)
{
    char *text = path ? cmx_awsc_read_small_file(path, 1u << 20) : NULL;
    if (!text)
        return 0;
    int found = 0, in_section = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || !*l)
            continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (!end)
                continue;
            *end = '\0';
            char *name = trim(l + 1);
            /* the config file writes [profile NAME], except for [default] */
            if (config_file && CMX_STARTS_WITH(name, "profile") &&
                isspace((unsigned char)name[CMX_LIT_LEN("profile")]))
                name = trim(name + CMX_LIT_LEN("profile") + 1);
            in_section = strcmp(name, profile) == 0;
            found |= in_section;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in_section || !eq)
            continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        char **dst = NULL;
        if (strcmp(k, "aws_access_key_id") == 0)
            dst = &out->keys.access_key_id;
        else if (strcmp(k, "aws_secret_access_key") == 0)
            dst = &out->keys.secret_access_key;
        else if (strcmp(k, "aws_session_token") == 0)
            dst = &out->keys.session_token;
        else if (strcmp(k, "role_arn") == 0)
            dst = &out->role_arn;
        else if (strcmp(k, "web_identity_token_file") == 0)
            dst = &out->web_identity_token_file;
        else if (strcmp(k, "role_session_name") == 0)
            dst = &out->role_session_name;
        if (dst && *v)
            set_key(dst, v);
    }
    cmx_wipe(text, strlen(text));
    free(text);
    return found;
}

static char *home_file(const char *env, const char *rel)
{
    const char *v = getenv(env);
    if (v && *v)
        return strdup(v);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", home, rel);
    return p;
}

int cmx_awsc_profile_load(const char *profile, cmx_awsc_profile *out)
{
    memset(out, 0, sizeof *out);
    out->keys.expiration = -1;
    if (!profile || !*profile)
        profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    snprintf(out->name, sizeof out->name, "%s", profile);
    char *config = home_file("AWS_CONFIG_FILE", ".aws/config");
    char *credentials = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    int found = read_ini(config, profile, 1, out);
    found |= read_ini(credentials, profile, 0, out);
    free(config);
    free(credentials);
    return found;
}
