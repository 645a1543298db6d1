/* drill_report.c — turns a drill's request log into recovery figures.
 *
 * Everything here is a pure function of the log and the two fault times, so
 * the numbers an operator reads are the numbers the unit tests check.  The
 * log is split into three phases by *send* time (before the fault, while it
 * holds, after it is lifted); the event figures (detection, first fallback
 * answer, fail-back) are measured to the *completion* of the first request
 * that shows the event, because that is when a client would notice. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drill.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cmx_drill_percentile(double *values, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort(values, n, sizeof *values, cmp_double);
    /* Nearest rank: the smallest value with at least p% of values at or below it. */
    double rank = ceil(p / 100.0 * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    if (i >= n)
        i = n - 1;
    return values[i];
}

int cmx_drill_from_target(const cmx_drill_input *in, const cmx_drill_record *r)
{
    if (strcmp(r->provider, in->target_provider) != 0)
        return 0;
    return !in->target_model || strcmp(r->model, in->target_model) == 0;
}

static int phase_of(const cmx_drill_input *in, uint64_t sent_us)
{
    if (sent_us < in->fail_at_us)
        return CMX_DRILL_BEFORE;
    if (sent_us < in->recover_at_us)
        return CMX_DRILL_DURING;
    return CMX_DRILL_AFTER;
}

static int is_2xx(int status)
{
    return status >= 200 && status < 300;
}

/* Keeps the earliest completion time past `since` in *best (microseconds). */
static void keep_earliest(uint64_t done, uint64_t since, uint64_t *best)
{
    if (done >= since && (*best == UINT64_MAX || done < *best))
        *best = done;
}

static double since_ms(uint64_t t, uint64_t since)
{
    return t == UINT64_MAX ? -1 : (double)(t - since) / 1000.0;
}

static cmx_drill_provider_count *provider_slot(cmx_drill_report *out, const char *name)
{
    for (size_t i = 0; i < out->n_providers; i++)
        if (strcmp(out->providers[i].name, name) == 0)
            return &out->providers[i];
    cmx_drill_provider_count *p =
        realloc(out->providers, (out->n_providers + 1) * sizeof *out->providers);
    if (!p)
        return NULL;
    out->providers = p;
    cmx_drill_provider_count *slot = &p[out->n_providers++];
    memset(slot, 0, sizeof *slot);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    return slot;
}

static void label_of(const cmx_drill_input *in, const cmx_drill_record *r, char *buf, size_t len)
{
    if (cmx_drill_record_lost(r))
        snprintf(buf, len, "(lost)");
    else if (!r->provider[0])
        snprintf(buf, len, "(error)");
    else if (in->target_model)
        snprintf(buf, len, "%s/%s", r->provider, r->model);
    else
        snprintf(buf, len, "%s", r->provider);
}

static int phase_latencies(const cmx_drill_record *recs, size_t n, const cmx_drill_input *in,
                           int phase, double *scratch, cmx_drill_phase_stats *st)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (phase_of(in, recs[i].sent_us) == phase && !cmx_drill_record_lost(&recs[i]))
            scratch[k++] = (double)recs[i].latency_us / 1000.0;
    st->p50_ms = cmx_drill_percentile(scratch, k, 50);
    st->p95_ms = cmx_drill_percentile(scratch, k, 95);
    st->max_ms = k ? scratch[k - 1] : -1;
    return 0;
}

int cmx_drill_report_compute(const cmx_drill_input *in, const cmx_drill_record *recs, size_t n,
                             cmx_drill_report *out)
{
    memset(out, 0, sizeof *out);
    out->total = n;
    out->expected = (size_t)llround(in->rps * in->duration_s);
    uint64_t detect = UINT64_MAX, fallback = UINT64_MAX, failback = UINT64_MAX;

    for (size_t i = 0; i < n; i++) {
        const cmx_drill_record *r = &recs[i];
        int ph = phase_of(in, r->sent_us);
        uint64_t done = r->sent_us + r->latency_us;
        cmx_drill_phase_stats *st = &out->phase[ph];
        st->sent++;
        if (cmx_drill_record_lost(r))
            st->lost++;
        else if (is_2xx(r->status))
            st->ok++;
        else
            st->errors++;

        int from_target = cmx_drill_from_target(in, r);
        if (ph != CMX_DRILL_AFTER) {
            /* In flight when the fault hit, or sent while it held. */
            int failed_over = r->attempts > 1 || (r->provider[0] && !from_target);
            if (failed_over)
                keep_earliest(done, in->fail_at_us, &detect);
            if (is_2xx(r->status) && r->provider[0] && !from_target)
                keep_earliest(done, in->fail_at_us, &fallback);
        }
        if (ph == CMX_DRILL_DURING) {
            if (cmx_drill_record_lost(r))
                out->failover_lost++;
            else if (!is_2xx(r->status))
                out->failover_errors++;
            else if (from_target)
                out->target_served_during++;
        }
        if (ph == CMX_DRILL_AFTER && is_2xx(r->status) && from_target)
            keep_earliest(done, in->recover_at_us, &failback);

        char label[64];
        label_of(in, r, label, sizeof label);
        cmx_drill_provider_count *slot = provider_slot(out, label);
        if (!slot) {
            cmx_drill_report_free(out);
            return -1;
        }
        slot->count[ph]++;
    }

    double *scratch = malloc((n ? n : 1) * sizeof *scratch);
    if (!scratch) {
        cmx_drill_report_free(out);
        return -1;
    }
    for (int ph = 0; ph < CMX_DRILL_PHASES; ph++)
        phase_latencies(recs, n, in, ph, scratch, &out->phase[ph]);
    free(scratch);

    out->detection_ms = since_ms(detect, in->fail_at_us);
    out->first_fallback_ms = since_ms(fallback, in->fail_at_us);
    out->failback_ms = since_ms(failback, in->recover_at_us);
    return 0;
}

void cmx_drill_report_free(cmx_drill_report *r)
{
    free(r->providers);
    r->providers = NULL;
    r->n_providers = 0;
}

static const char *const phase_names[CMX_DRILL_PHASES] = {"before", "during", "after"};

static void print_ms(FILE *out, double ms, const char *missing)
{
    if (ms < 0)
        fprintf(out, "%s", missing);
    else
        fprintf(out, "%.1f ms", ms);
}

void cmx_drill_report_print_text(FILE *out, const cmx_drill_input *in, const cmx_drill_report *r,
                                 const char *how)
{
    fprintf(out, "failover drill: target %s%s%s, fault by %s\n", in->target_provider,
            in->target_model ? "/" : "", in->target_model ? in->target_model : "", how);
    fprintf(out, "  load: %.0f req/s for %.1f s; fault at %.2f s, lifted at %.2f s\n", in->rps,
            in->duration_s, (double)in->fail_at_us / 1e6, (double)in->recover_at_us / 1e6);
    fprintf(out, "  requests: %zu sent (%zu expected)\n\n", r->total, r->expected);
    fprintf(out, "  detection (fault → first failover seen):       ");
    print_ms(out, r->detection_ms, "not observed");
    fprintf(out, "\n  first good answer from a fallback:              ");
    print_ms(out, r->first_fallback_ms, "none");
    fprintf(out,
            "\n  during the fault: %zu error%s (non-2xx), %zu lost (no answer), %zu still "
            "served by the target\n",
            r->failover_errors, r->failover_errors == 1 ? "" : "s", r->failover_lost,
            r->target_served_during);
    fprintf(out, "  fail-back (lifted → first answer from the target): ");
    print_ms(out, r->failback_ms, "not observed before the end");
    fprintf(out, "\n\n  %-8s %6s %6s %6s %6s %9s %9s %9s\n", "phase", "sent", "ok", "errors",
            "lost", "p50 ms", "p95 ms", "max ms");
    for (int ph = 0; ph < CMX_DRILL_PHASES; ph++) {
        const cmx_drill_phase_stats *s = &r->phase[ph];
        fprintf(out, "  %-8s %6zu %6zu %6zu %6zu %9.1f %9.1f %9.1f\n", phase_names[ph], s->sent,
                s->ok, s->errors, s->lost, s->p50_ms, s->p95_ms, s->max_ms);
    }
    fprintf(out, "\n  %-32s %8s %8s %8s\n", "answered by", "before", "during", "after");
    for (size_t i = 0; i < r->n_providers; i++) {
        const cmx_drill_provider_count *p = &r->providers[i];
        fprintf(out, "  %-32s %8zu %8zu %8zu\n", p->name, p->count[0], p->count[1], p->count[2]);
    }
}

/* Prints a JSON string; names here come from config and headers. */
static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_ms(FILE *out, double ms)
{
    if (ms < 0)
        fprintf(out, "null");
    else
        fprintf(out, "%.3f", ms);
}

void cmx_drill_report_print_json(FILE *out, const cmx_drill_input *in, const cmx_drill_report *r,
                                 const char *how)
{
    fprintf(out, "{\"target\":");
    json_str(out, in->target_provider);
    fprintf(out, ",\"target_model\":");
    if (in->target_model)
        json_str(out, in->target_model);
    else
        fprintf(out, "null");
    fprintf(out, ",\"fault_by\":");
    json_str(out, how);
    fprintf(out,
            ",\"rps\":%g,\"duration_s\":%g,\"fail_at_ms\":%.3f,\"recover_at_ms\":%.3f,"
            "\"total\":%zu,\"expected\":%zu,\"detection_ms\":",
            in->rps, in->duration_s, (double)in->fail_at_us / 1000.0,
            (double)in->recover_at_us / 1000.0, r->total, r->expected);
    json_ms(out, r->detection_ms);
    fprintf(out, ",\"first_fallback_ms\":");
    json_ms(out, r->first_fallback_ms);
    fprintf(out, ",\"failback_ms\":");
    json_ms(out, r->failback_ms);
    fprintf(out,
            ",\"failover_errors\":%zu,\"failover_lost\":%zu,\"target_served_during\":%zu,"
            "\"phases\":{",
            r->failover_errors, r->failover_lost, r->target_served_during);
    for (int ph = 0; ph < CMX_DRILL_PHASES; ph++) {
        const cmx_drill_phase_stats *s = &r->phase[ph];
        fprintf(out, "%s\"%s\":{\"sent\":%zu,\"ok\":%zu,\"errors\":%zu,\"lost\":%zu,\"p50_ms\":",
                ph ? "," : "", phase_names[ph], s->sent, s->ok, s->errors, s->lost);
        json_ms(out, s->p50_ms);
        fprintf(out, ",\"p95_ms\":");
        json_ms(out, s->p95_ms);
        fprintf(out, ",\"max_ms\":");
        json_ms(out, s->max_ms);
        fprintf(out, "}");
    }
    fprintf(out, "},\"providers\":{");
    for (size_t i = 0; i < r->n_providers; i++) {
        const cmx_drill_provider_count *p = &r->providers[i];
        fprintf(out, "%s", i ? "," : "");
        json_str(out, p->name);
        fprintf(out, ":{\"before\":%zu,\"during\":%zu,\"after\":%zu}", p->count[0], p->count[1],
                p->count[2]);
    }
    fprintf(out, "}}\n");
}
