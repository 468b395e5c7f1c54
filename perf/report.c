/* SPDX-License-Identifier: MIT */
/* ocla-bench output: readable table, JSON, CSV and an SVG chart (written by hand, no dependency). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* tokens a call handles: B*T, or B for a decode step (one token per sequence; --papers lt's T is the context) */
static double tok_s(const bench_result *r) {
    const double tokens = (double)r->B * (strcmp(r->mode, "decode") ? (double)r->T : 1.0);
    return r->ms > 0 ? tokens / (r->ms * 1e-3) : 0;
}
static double gflops(const bench_result *r) { return r->ms > 0 ? r->gflop / (r->ms * 1e-3) : 0; }
static double gbs(const bench_result *r) { return r->ms > 0 ? r->gbytes / (r->ms * 1e-3) : 0; }

static void table_header(FILE *f, const bench_device *d) {
    fprintf(f, "\n== %s | %s | driver %s | %s\n", d->name, d->platform, d->driver,
            d->events ? "event-profiled" : "host clock (events read 0)");
    if (d->peak_gflops <= 0 && d->bw_gbs <= 0) {
        fprintf(f, "   peak and bandwidth not measured (--no-peak, or the measurement failed): no %%FMA, %%BW\n");
        return;
    }
    fprintf(f, "   measured fp32 FMA peak %.1f GFLOP/s (%s, 8 independent chains per work-item, widths 1/2/4/8/16: "
               "%.1f %.1f %.1f %.1f %.1f)\n",
            d->peak_gflops, d->peak_fma ? "fma (CL_FP_FMA)" : "mad (no CL_FP_FMA)", d->peak_by_width[0], d->peak_by_width[1], d->peak_by_width[2], d->peak_by_width[3],
            d->peak_by_width[4]);
    fprintf(f, "   measured copy bandwidth %.1f GB/s (float4 copy, read + write)\n", d->bw_gbs);
}

void report_table(FILE *f, const bench_device *devs, int ndev, const bench_result *r, int n) {
    int over_peak = 0; /* a row above 100 %FMA: said below the table */
    for (int di = 0; di < ndev; di++) {
        const bench_device *d = &devs[di];
        table_header(f, d);
        int first = 1;
        for (int i = 0; i < n; i++) {
            if (r[i].dev != di) continue;
            if (first) {
                fprintf(f, "%-13s %-6s %5s %6s %4s %4s %6s %10s %12s %9s %8s %6s %6s %8s %10s %10s  %s\n", "method",
                        "mode", "B", "T", "H", "D", "chunk", "dev ms", "tokens/s", "GFLOP/s", "GB/s", "%FMA", "%BW",
                        "enq us", "pipe ms", "wait ms", "config");
                first = 0;
            }
            char chunk[16];
            if (!strcmp(r[i].mode, "decode")) snprintf(chunk, sizeof chunk, "rec");
            else if (!r[i].chunk) snprintf(chunk, sizeof chunk, "auto*");
            else snprintf(chunk, sizeof chunk, "%d%s", r[i].chunk, r[i].picked ? "*" : "");
            if (strcmp(r[i].status, "ok")) {
                fprintf(f, "%-13s %-6s %5ld %6ld %4ld %4ld %6s  %s%s%s\n", r[i].method, r[i].mode, r[i].B, r[i].T,
                        r[i].H, r[i].D, chunk, r[i].status, r[i].config[0] ? "  " : "", r[i].config);
                continue;
            }
            char pf[16] = "     -", pb[16] = "     -"; /* "-" where the peak was not measured */
            if (d->peak_gflops > 0) snprintf(pf, sizeof pf, "%5.1f%%", 100 * gflops(&r[i]) / d->peak_gflops);
            if (d->peak_gflops > 0 && gflops(&r[i]) > d->peak_gflops) over_peak = 1;
            if (d->bw_gbs > 0) snprintf(pb, sizeof pb, "%5.1f%%", 100 * gbs(&r[i]) / d->bw_gbs);
            char he[16] = "       -", hp[16] = "         -", hw[16] = "         -"; /* "-": --no-host-time */
            if (r[i].host_calls > 0) {
                snprintf(he, sizeof he, "%8.1f", r[i].host_enqueue_us);
                snprintf(hp, sizeof hp, "%10.4f", r[i].wall_pipelined_ms);
                snprintf(hw, sizeof hw, "%10.4f", r[i].wall_wait_ms);
            }
            fprintf(f, "%-13s %-6s %5ld %6ld %4ld %4ld %6s %10.4f %12.4g %9.2f %8.2f %6s %6s %s %s %s  %s\n",
                    r[i].method, r[i].mode, r[i].B, r[i].T, r[i].H, r[i].D, chunk, r[i].ms, tok_s(&r[i]), gflops(&r[i]),
                    gbs(&r[i]), pf, pb, he, hp, hw, r[i].config);
            if (r[i].detail[0]) fprintf(f, "    kernels: %s\n", r[i].detail);
        }
    }
    if (n)
        fprintf(f, "\n* = the scheduler's pick; times: median of >= 10 runs after warm-up, summed over every kernel of"
                   " the op.\n  FLOPs: fwd B*H*T*(4*C*D + 4*D*D), decode 4*B*H*D*D; bytes: q,k,v,o (+g) once, decode"
                   " + state read and write;\n  softmax (causal, \"chunk\" = its query/key block, auto = the op's pick): 2*B*H*T*T*D FLOPs,\n"
                   "  bytes q,k,v,o.\n  flash, linformer, the layers: the cost models of tests/op_table.c; layers on [B,T,d],"
                   " d = H*D (config).\n  fwdbwd: the forward + its backward (linear, GLA: ocla_attention_backward, dq,dk,dv,dg,"
                   " its own\n  chunk rule; the others: the gradient of every input), nominal 3x the forward's FLOPs and"
                   " 2.5x its bytes.\n"
                   "  Host clock, per call: enq us = enqueue time of back-to-back calls with no wait; pipe ms = wall\n"
                   "  time of the same batch up to its ocla_finish; wait ms = one call then ocla_finish (median).\n");
    if (over_peak)
        fprintf(f, "  %%FMA above 100: the op ran faster than the measured rate. That rate comes from 8 independent\n"
                   "  fma (or mad) chains per work-item and moves between runs on a shared machine: read it as a\n"
                   "  reference rate, not a ceiling.\n");
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

int report_json(const char *path, const bench_device *devs, int ndev, const bench_result *r, int n,
                void (*extra)(FILE *f, const void *arg), const void *extra_arg) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\n  \"devices\": [\n");
    for (int i = 0; i < ndev; i++) {
        fprintf(f, "    {\"name\": ");
        json_str(f, devs[i].name);
        fprintf(f, ", \"platform\": ");
        json_str(f, devs[i].platform);
        fprintf(f, ", \"driver\": ");
        json_str(f, devs[i].driver);
        fprintf(f, ", \"timer\": \"%s\", \"peak_gflops\": %.3f, \"peak_gflops_by_width\": [%.3f, %.3f, %.3f, %.3f, %.3f],"
                   " \"peak_op\": \"%s\", \"copy_gbs\": %.3f}%s\n",
                devs[i].events ? "events" : "host", devs[i].peak_gflops, devs[i].peak_by_width[0],
                devs[i].peak_by_width[1], devs[i].peak_by_width[2], devs[i].peak_by_width[3], devs[i].peak_by_width[4],
                devs[i].peak_fma ? "fma" : "mad", devs[i].bw_gbs, i + 1 < ndev ? "," : "");
    }
    fprintf(f, "  ],\n  \"results\": [\n");
    for (int i = 0; i < n; i++) {
        const bench_device *d = &devs[r[i].dev];
        fprintf(f,
                "    {\"device\": %d, \"method\": \"%s\", \"mode\": \"%s\", \"B\": %ld, \"T\": %ld, \"H\": %ld, \"D\": %ld,"
                " \"config\": ",
                r[i].dev, r[i].method, r[i].mode, r[i].B, r[i].T, r[i].H, r[i].D);
        json_str(f, r[i].config);
        fprintf(f, ", \"chunk\": %d, \"scheduler_pick\": %s, \"status\": ", r[i].chunk, r[i].picked ? "true" : "false");
        json_str(f, r[i].status);
        fprintf(f,
                ", \"ms\": %.6f, \"ms_min\": %.6f, \"runs\": %d, \"tokens_per_s\": %.6g, \"gflops\": %.4f, \"gbs\": %.4f,"
                " \"pct_fma_peak\": %.3f, \"pct_bandwidth\": %.3f",
                r[i].ms, r[i].ms_min, r[i].runs, tok_s(&r[i]), gflops(&r[i]), gbs(&r[i]),
                d->peak_gflops > 0 ? 100 * gflops(&r[i]) / d->peak_gflops : 0,
                d->bw_gbs > 0 ? 100 * gbs(&r[i]) / d->bw_gbs : 0);
        if (r[i].host_calls > 0)
            fprintf(f, ", \"host_enqueue_us\": %.3f, \"wall_pipelined_ms\": %.6f, \"wall_wait_ms\": %.6f, \"host_calls\": %d",
                    r[i].host_enqueue_us, r[i].wall_pipelined_ms, r[i].wall_wait_ms, r[i].host_calls);
        else
            fprintf(f, ", \"host_enqueue_us\": null, \"wall_pipelined_ms\": null, \"wall_wait_ms\": null, \"host_calls\": 0");
        if (r[i].mem_bytes > 0) fprintf(f, ", \"mem_bytes\": %.0f", r[i].mem_bytes);
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "  ]");
    if (extra) {
        fprintf(f, ",\n");
        extra(f, extra_arg);
    }
    fprintf(f, "\n}\n");
    return fclose(f) ? -1 : 0;
}

int report_csv(const char *path, const bench_device *devs, const bench_result *r, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "device,driver,method,mode,B,T,H,D,chunk,scheduler_pick,status,ms,ms_min,runs,tokens_per_s,gflops,gbs,"
               "pct_fma_peak,pct_bandwidth,peak_gflops,copy_gbs,host_enqueue_us,wall_pipelined_ms,wall_wait_ms,"
               "host_calls,config,mem_bytes\n");
    for (int i = 0; i < n; i++) {
        const bench_device *d = &devs[r[i].dev];
        fprintf(f, "\"%s\",\"%s\",%s,%s,%ld,%ld,%ld,%ld,%d,%d,\"%s\",%.6f,%.6f,%d,%.6g,%.4f,%.4f,%.3f,%.3f,%.3f,%.3f",
                d->name, d->driver, r[i].method, r[i].mode, r[i].B, r[i].T, r[i].H, r[i].D, r[i].chunk, r[i].picked,
                r[i].status, r[i].ms, r[i].ms_min, r[i].runs, tok_s(&r[i]), gflops(&r[i]), gbs(&r[i]),
                d->peak_gflops > 0 ? 100 * gflops(&r[i]) / d->peak_gflops : 0,
                d->bw_gbs > 0 ? 100 * gbs(&r[i]) / d->bw_gbs : 0, d->peak_gflops, d->bw_gbs);
        if (r[i].host_calls > 0) /* empty where not measured (--no-host-time) */
            fprintf(f, ",%.3f,%.6f,%.6f,%d", r[i].host_enqueue_us, r[i].wall_pipelined_ms, r[i].wall_wait_ms,
                    r[i].host_calls);
        else
            fprintf(f, ",,,,0");
        fprintf(f, ",\"%s\",", r[i].config);
        if (r[i].mem_bytes > 0) fprintf(f, "%.0f", r[i].mem_bytes); /* empty where not measured */
        fprintf(f, "\n");
    }
    return fclose(f) ? -1 : 0;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

/* A chart point: forward at the scheduler's pick, or forward+backward (its one chunk). */
static int chartable(const bench_result *q) {
    return !strcmp(q->status, "ok") && ((!strcmp(q->mode, "fwd") && q->picked) || !strcmp(q->mode, "fwdbwd"));
}

#define SVG_MAX_PANELS 64
#define SVG_MAX_METHODS 16
typedef struct svg_panel {
    int dev;
    long B, H, D;
    const char *mode;
} svg_panel;
static int in_panel(const bench_result *q, const svg_panel *p) {
    return chartable(q) && q->dev == p->dev && q->B == p->B && q->H == p->H && q->D == p->D && !strcmp(q->mode, p->mode);
}

/* One panel per (device, B/H/D shape, mode): tokens/s (log) vs T (log2), a line per method (the
 * softmax methods dashed: the baseline), forward at the scheduler's pick and forward+backward. */
int report_svg(const char *path, const bench_device *devs, int ndev, const bench_result *r, int n, const char *note) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                                   "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"};
    const int ncolors = (int)(sizeof colors / sizeof colors[0]);
    const int W = 760, PH = 300, ML = 80, MR = 160, MT = 40, MB = 50;
    svg_panel panels[SVG_MAX_PANELS];
    const char *mnames[SVG_MAX_METHODS];
    int np = 0, nm = 0;
    for (int i = 0; i < n; i++) {
        if (!chartable(&r[i])) continue;
        int found = 0;
        for (int p = 0; p < np; p++) found |= in_panel(&r[i], &panels[p]);
        if (!found && np < SVG_MAX_PANELS) {
            svg_panel *p = &panels[np++];
            p->dev = r[i].dev, p->B = r[i].B, p->H = r[i].H, p->D = r[i].D, p->mode = r[i].mode;
        }
        found = 0;
        for (int m = 0; m < nm; m++) found |= !strcmp(mnames[m], r[i].method);
        if (!found && nm < SVG_MAX_METHODS) mnames[nm++] = r[i].method;
    }
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int legend_h = 18 * nm + 24; /* a panel is at least as tall as its legend */
    const int ph = PH > legend_h ? PH : legend_h;
    int H = (np ? np : 1) * (ph + MT + MB) + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    for (int p = 0; p < np; p++) {
        const svg_panel *pn = &panels[p];
        int y0 = p * (ph + MT + MB) + MT, x0 = ML, pw = W - ML - MR;
        double tmin = 1e30, tmax = 0, ymin = 1e300, ymax = 0;
        for (int i = 0; i < n; i++) {
            const bench_result *q = &r[i];
            if (!in_panel(q, pn)) continue;
            double y = tok_s(q);
            if (q->T < tmin) tmin = (double)q->T;
            if (q->T > tmax) tmax = (double)q->T;
            if (y < ymin) ymin = y;
            if (y > ymax) ymax = y;
        }
        double lx0 = log2(tmin), lx1 = log2(tmax);
        if (lx1 - lx0 < 1) lx0 -= 0.5, lx1 += 0.5;
        double ly0 = floor(log10(ymin)), ly1 = ceil(log10(ymax));
        if (ly1 <= ly0) ly1 = ly0 + 1;
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">", x0, y0 - 14);
        xml_text(f, devs[pn->dev].name);
        fprintf(f, " — %s, B=%ld H=%ld D=%ld, scheduler's chunk</text>\n",
                strcmp(pn->mode, "fwd") ? "forward+backward" : "forward", pn->B, pn->H, pn->D);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", x0, y0, pw, ph);
        for (double ly = ly0; ly <= ly1 + 1e-9; ly += 1) {
            int yy = y0 + ph - (int)((ly - ly0) / (ly1 - ly0) * ph);
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>", x0, yy, x0 + pw, yy);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">1e%d</text>\n", x0 - 6, yy + 4, (int)ly);
        }
        for (double lx = ceil(lx0); lx <= lx1 + 1e-9; lx += 1) {
            int xx = x0 + (int)((lx - lx0) / (lx1 - lx0) * pw);
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", xx, y0, xx, y0 + ph);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", xx, y0 + ph + 16, pow(2, lx));
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">T (tokens per sequence)</text>\n", x0 + pw / 2,
                y0 + ph + 34);
        fprintf(f, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">tokens/s</text>\n", 18,
                y0 + ph / 2);
        int shown = 0; /* legend rows of this panel */
        for (int mi = 0; mi < nm; mi++) {
            const char *color = colors[mi % ncolors];
            const int dashed = strstr(mnames[mi], "softmax") != NULL;
            char pts[8192];
            size_t off = 0;
            int cnt = 0;
            for (int i = 0; i < n; i++) {
                const bench_result *q = &r[i];
                if (!in_panel(q, pn) || strcmp(q->method, mnames[mi])) continue;
                double xx = x0 + (log2((double)q->T) - lx0) / (lx1 - lx0) * pw;
                double yy = y0 + ph - (log10(tok_s(q)) - ly0) / (ly1 - ly0) * ph;
                if (off < sizeof pts - 40) off += (size_t)snprintf(pts + off, sizeof pts - off, "%.1f,%.1f ", xx, yy);
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", xx, yy, color);
                cnt++;
            }
            if (cnt > 1)
                fprintf(f, "\n<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", pts,
                        color, dashed ? " stroke-dasharray=\"6,3\"" : "");
            if (cnt) {
                int ly = y0 + 16 + 18 * shown++;
                fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"%s/>",
                        x0 + pw + 10, ly - 4, x0 + pw + 30, ly - 4, color, dashed ? " stroke-dasharray=\"6,3\"" : "");
                fprintf(f, "<text x=\"%d\" y=\"%d\">%s</text>\n", x0 + pw + 36, ly, mnames[mi]);
            }
        }
    }
    if (note) {
        fprintf(f, "<text x=\"10\" y=\"%d\" fill=\"#a00\">", H - 10);
        xml_text(f, note);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    (void)ndev;
    return fclose(f) ? -1 : 0;
}

/* Panels of (x, y) series, log2 x and log10 y, one legend per panel (the papers' charts). */
int report_svg_panels(const char *path, const report_panel *p, int np, const char *note) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
    const int W = 760, PH = 280, ML = 80, MR = 170, MT = 40, MB = 50;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int H = (np ? np : 1) * (PH + MT + MB) + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    for (int k = 0; k < np; k++) {
        const report_panel *pn = &p[k];
        const int y0 = k * (PH + MT + MB) + MT, x0 = ML, pw = W - ML - MR;
        double xmin = 1e300, xmax = 0, ymin = 1e300, ymax = 0;
        for (int s = 0; s < pn->ns; s++)
            for (int i = 0; i < pn->s[s].n; i++) {
                const double x = pn->s[s].x[i], y = pn->s[s].y[i];
                if (x <= 0 || y <= 0) continue;
                xmin = x < xmin ? x : xmin, xmax = x > xmax ? x : xmax;
                ymin = y < ymin ? y : ymin, ymax = y > ymax ? y : ymax;
            }
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">", x0, y0 - 14);
        xml_text(f, pn->title);
        fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", x0,
                y0, pw, PH);
        if (xmax <= 0) {
            fprintf(f, "<text x=\"%d\" y=\"%d\">no point measured</text>\n", x0 + 10, y0 + 20);
            continue;
        }
        double lx0 = log2(xmin), lx1 = log2(xmax), ly0 = floor(log10(ymin)), ly1 = ceil(log10(ymax));
        if (lx1 - lx0 < 1) lx0 -= 0.5, lx1 += 0.5;
        if (ly1 <= ly0) ly1 = ly0 + 1;
        for (double ly = ly0; ly <= ly1 + 1e-9; ly += 1) {
            const int yy = y0 + PH - (int)((ly - ly0) / (ly1 - ly0) * PH);
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>", x0, yy, x0 + pw, yy);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">1e%d</text>\n", x0 - 6, yy + 4, (int)ly);
        }
        for (double lx = ceil(lx0); lx <= lx1 + 1e-9; lx += 1) {
            const int xx = x0 + (int)((lx - lx0) / (lx1 - lx0) * pw);
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#eee\"/>", xx, y0, xx, y0 + PH);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", xx, y0 + PH + 16, pow(2, lx));
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x0 + pw / 2, y0 + PH + 34);
        xml_text(f, pn->xlabel);
        fprintf(f, "</text>\n<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">", 18, y0 + PH / 2);
        xml_text(f, pn->ylabel);
        fprintf(f, "</text>\n");
        for (int s = 0; s < pn->ns; s++) {
            const report_series *se = &pn->s[s];
            const char *color = colors[s % 6], *dash = se->dashed ? " stroke-dasharray=\"6,3\"" : "";
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color, dash);
            for (int i = 0; i < se->n; i++)
                fprintf(f, "%.1f,%.1f ", x0 + (log2(se->x[i]) - lx0) / (lx1 - lx0) * pw,
                        y0 + PH - (log10(se->y[i]) - ly0) / (ly1 - ly0) * PH);
            fprintf(f, "\"/>\n");
            for (int i = 0; i < se->n; i++)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", x0 + (log2(se->x[i]) - lx0) / (lx1 - lx0) * pw,
                        y0 + PH - (log10(se->y[i]) - ly0) / (ly1 - ly0) * PH, color);
            const int ly = y0 + 16 + 18 * s;
            fprintf(f, "\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"%s/>", x0 + pw + 10,
                    ly - 4, x0 + pw + 30, ly - 4, color, dash);
            fprintf(f, "<text x=\"%d\" y=\"%d\">", x0 + pw + 36, ly);
            xml_text(f, se->label);
            fprintf(f, "</text>\n");
        }
    }
    if (note) {
        fprintf(f, "<text x=\"10\" y=\"%d\" fill=\"#a00\">", H - 10);
        xml_text(f, note);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
    return fclose(f) ? -1 : 0;
}
