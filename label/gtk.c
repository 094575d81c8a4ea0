/* gtk.c — clipsort-label-gtk: the labelling loop of ui_core.h in a GTK 4 window.
 * Same queue, keys, undo, flags and background retrain as clipsort-label-web, and the
 * same labels log, so both can run at once. */
#include <getopt.h>
#include <gtk/gtk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "exitcode.h"
#include "num.h"
#include "ui_core.h"
#include "ui_img.h"
#include "xalloc.h"

#define VIEW_BOX 1024

static struct {
	ui_core *core;
	ui_imgcache *img;
	int sid;
	int trace;
	size_t cur;
	int have;               /* an image is shown */
	unsigned long retrains; /* last seen */
	GtkWidget *win, *picture, *path, *pred, *zs, *cluster, *label, *model, *progress, *stats,
		*history, *status;
} G;

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --cache FILE --labels FILE --classes FILE [--zeroshot FILE] [--clusters FILE]\n"
		"       [--root DIR] [--journal FILE] [--workdir DIR] [--user NAME] [--retrain-every N]\n"
		"       [--lease SECONDS] [--tools DIR] [--trace]\n", diag_prog());
	exit(CS_EXIT_USAGE);
}

static const char *cname(int k)
{
	return k >= 0 ? ui_core_class(G.core, (size_t)k) : NULL;
}

static void set_text(GtkWidget *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_text(GtkWidget *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* plain text, never markup: file names are shown as they are */
	gtk_label_set_text(GTK_LABEL(w), s);
	g_free(s);
}

static void show_stats(void)
{
	ui_stats s;
	GString *t = g_string_new(NULL);
	ui_core_stats(G.core, &s);
	gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(G.progress), s.nitems ? (double)s.nlabelled / (double)s.nitems : 0);
	set_text(G.status, "%zu of %zu labelled, %zu flagged · %.1f%% of predictions confident", s.nlabelled, s.nitems,
			s.nflagged, s.npredicted ? 100.0 * (double)s.nconfident / (double)s.npredicted : 0.0);
	g_string_append(t, "class\tlabelled\tpredicted\n");
	for (size_t k = 0; k < ui_core_nclasses(G.core); k++)
		g_string_append_printf(t, "%s\t%zu\t%.1f%%\n", ui_core_class(G.core, k), s.labelled[k],
				s.npredicted ? 100.0 * (double)s.predicted[k] / (double)s.npredicted : 0.0);
	gtk_label_set_text(GTK_LABEL(G.stats), t->str);
	g_string_free(t, TRUE);
	if (s.has_model && s.cv_accuracy >= 0)
		set_text(G.model, "classifier, CV accuracy %.1f%%, last improved %s\nretrains: %lu%s · new labels since: %zu",
				100 * s.cv_accuracy, s.model_time, s.retrains, s.retraining ? " (retraining…)" : "", s.labels_since);
	else
		set_text(G.model, "%s\nretrains: %lu%s · new labels since: %zu", s.model_msg, s.retrains,
				s.retraining ? " (retraining…)" : "", s.labels_since);
	if (G.trace && s.retrains != G.retrains)
		fprintf(stderr, "trace: retrain %lu: %s cv=%.4f\n", s.retrains, s.has_model ? "classifier trained" : s.model_msg,
				s.cv_accuracy);
	G.retrains = s.retrains;
}

static void show_history(void)
{
	ui_decision d[UI_HISTORY];
	size_t n = ui_core_history(G.core, G.sid, d);
	static const char *const acts[] = { "", "label", "skip", "flag" };
	GString *t = g_string_new("Last decisions (u undoes)\n");
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(t, "%zu. %s %s — %s\n", i + 1, acts[d[i].act], d[i].cls >= 0 ? cname(d[i].cls) : "",
				ui_core_loc(G.core, d[i].id));
	gtk_label_set_text(GTK_LABEL(G.history), t->str);
	g_string_free(t, TRUE);
}

static void show_item(void)
{
	ui_item_info in;
	unsigned char *jpg;
	size_t len;
	char err[512];

	if (!G.have) {
		gtk_picture_set_paintable(GTK_PICTURE(G.picture), NULL);
		set_text(G.path, "Nothing left to label.");
		for (GtkWidget **w = (GtkWidget *[]){ G.pred, G.zs, G.cluster, G.label, NULL }; *w; w++)
			set_text(*w, "%s", "");
		if (G.trace)
			fprintf(stderr, "trace: done\n");
		return;
	}
	ui_core_info(G.core, G.cur, &in);
	set_text(G.path, "%s", ui_core_loc(G.core, G.cur));
	if (in.pred >= 0)
		set_text(G.pred, "%s %.1f%%", cname(in.pred), 100 * in.pred_p);
	else
		set_text(G.pred, "no classifier yet");
	if (in.zs >= 0)
		set_text(G.zs, "%s %.1f%%", cname(in.zs), 100 * in.zs_p);
	else
		set_text(G.zs, "–");
	if (in.cluster >= 0)
		set_text(G.cluster, "%d", in.cluster);
	else
		set_text(G.cluster, "–");
	set_text(G.label, "%s", in.label >= 0 ? cname(in.label) : in.flagged ? "flagged" : "–");
	if (ui_img_get(G.img, ui_core_root(G.core), ui_core_loc(G.core, G.cur), G.cur, VIEW_BOX, &jpg, &len, err, sizeof err) == 0) {
		GBytes *b = g_bytes_new_take(jpg, len);
		GError *ge = NULL;
		GdkTexture *tex = gdk_texture_new_from_bytes(b, &ge);
		g_bytes_unref(b);
		gtk_picture_set_paintable(GTK_PICTURE(G.picture), tex ? GDK_PAINTABLE(tex) : NULL);
		if (tex)
			g_object_unref(tex);
		else {
			cs_warn("%s: %s", ui_core_loc(G.core, G.cur), ge->message);
			g_error_free(ge);
		}
	} else {
		cs_warn("%s", err);
		gtk_picture_set_paintable(GTK_PICTURE(G.picture), NULL);
	}
	if (G.trace)
		fprintf(stderr, "trace: showing %s pred=%s zs=%s\n", ui_core_key(G.core, G.cur),
				in.pred >= 0 ? cname(in.pred) : "-", in.zs >= 0 ? cname(in.zs) : "-");
}

static void next(void)
{
	size_t ids[4];
	size_t n = ui_core_next(G.core, G.sid, ids, 4);
	G.have = n > 0;
	if (n)
		G.cur = ids[0];
	show_item();
	show_stats();
	show_history();
}

static void fail(const char *what, const char *err)
{
	cs_warn("%s: %s", what, err);
	set_text(G.status, "NOT RECORDED: %s", err);
}

static gboolean on_key(GtkEventControllerKey *ctl, guint keyval, guint keycode, GdkModifierType state, gpointer data)
{
	char err[512];
	int dup;
	gunichar ch = gdk_keyval_to_unicode(keyval);
	(void)ctl; (void)keycode; (void)data;

	if (state & (GDK_CONTROL_MASK | GDK_ALT_MASK | GDK_SUPER_MASK))
		return FALSE;
	if (ch >= '1' && ch <= '9') {
		size_t k = ch - '1';
		if (!G.have || k >= ui_core_nclasses(G.core))
			return TRUE;
		if (ui_core_label(G.core, G.sid, G.cur, (int)k, NULL, &dup, err, sizeof err) != 0)
			fail("label", err);
		else
			next();
	} else if (ch == 's') {
		if (G.have)
			ui_core_skip(G.core, G.sid, G.cur);
		next();
	} else if (ch == 'f') {
		if (G.have && ui_core_flag(G.core, G.sid, G.cur, NULL, &dup, err, sizeof err) != 0)
			fail("flag", err);
		else
			next();
	} else if (ch == 'u' || keyval == GDK_KEY_BackSpace) {
		size_t id;
		int rc = ui_core_undo(G.core, G.sid, NULL, &id, &dup, err, sizeof err);
		if (rc > 1)
			fail("undo", err);
		else
			next();
	} else if (ch == 'q') {
		gtk_window_destroy(GTK_WINDOW(G.win));
	} else {
		return FALSE;
	}
	return TRUE;
}

static gboolean on_tick(gpointer data)
{
	unsigned long before = G.retrains;
	(void)data;
	show_stats();
	if (G.retrains != before)
		show_item();    /* new predictions for the image on screen */
	return G_SOURCE_CONTINUE;
}

static GtkWidget *row(GtkWidget *grid, int r, const char *name)
{
	GtkWidget *k = gtk_label_new(name), *v = gtk_label_new("");
	gtk_label_set_xalign(GTK_LABEL(k), 0);
	gtk_label_set_xalign(GTK_LABEL(v), 0);
	gtk_grid_attach(GTK_GRID(grid), k, 0, r, 1, 1);
	gtk_grid_attach(GTK_GRID(grid), v, 1, r, 1, 1);
	return v;
}

static GtkWidget *text(GtkWidget *box, const char *s)
{
	GtkWidget *l = gtk_label_new(s);
	gtk_label_set_xalign(GTK_LABEL(l), 0);
	gtk_label_set_wrap(GTK_LABEL(l), TRUE);
	gtk_label_set_wrap_mode(GTK_LABEL(l), PANGO_WRAP_WORD_CHAR);
	gtk_box_append(GTK_BOX(box), l);
	return l;
}

static void activate(GtkApplication *app, gpointer data)
{
	(void)data;
	G.win = gtk_application_window_new(app);
	gtk_window_set_title(GTK_WINDOW(G.win), "clipsort labeller");
	gtk_window_set_default_size(GTK_WINDOW(G.win), 1200, 760);

	GtkWidget *hbox = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
	G.picture = gtk_picture_new();
	gtk_picture_set_can_shrink(GTK_PICTURE(G.picture), TRUE);
	gtk_widget_set_hexpand(G.picture, TRUE);
	gtk_widget_set_vexpand(G.picture, TRUE);
	gtk_box_append(GTK_BOX(hbox), G.picture);

	GtkWidget *side = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
	gtk_widget_set_size_request(side, 340, -1);
	gtk_widget_set_margin_top(side, 8);
	gtk_widget_set_margin_end(side, 8);
	G.path = text(side, "");
	GtkWidget *grid = gtk_grid_new();
	gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
	G.pred = row(grid, 0, "Classifier");
	G.zs = row(grid, 1, "Zero-shot");
	G.cluster = row(grid, 2, "Cluster");
	G.label = row(grid, 3, "Label");
	gtk_box_append(GTK_BOX(side), grid);
	GString *keys = g_string_new("Keys: ");
	for (size_t k = 0; k < ui_core_nclasses(G.core); k++)
		if (ui_core_class_key(G.core, k))
			g_string_append_printf(keys, "%c %s · ", ui_core_class_key(G.core, k), ui_core_class(G.core, k));
	g_string_append(keys, "s skip · u undo · f flag · q quit");
	text(side, keys->str);
	g_string_free(keys, TRUE);
	text(side, "Model");
	G.model = text(side, "");
	G.progress = gtk_progress_bar_new();
	gtk_box_append(GTK_BOX(side), G.progress);
	G.status = text(side, "");
	G.stats = text(side, "");
	G.history = text(side, "");
	gtk_box_append(GTK_BOX(hbox), side);
	gtk_window_set_child(GTK_WINDOW(G.win), hbox);

	GtkEventController *kc = gtk_event_controller_key_new();
	g_signal_connect(kc, "key-pressed", G_CALLBACK(on_key), NULL);
	gtk_widget_add_controller(G.win, kc);
	g_timeout_add(1000, on_tick, NULL);
	next();
	gtk_window_present(GTK_WINDOW(G.win));
	if (G.trace)
		fprintf(stderr, "trace: window up\n");
}

int main(int argc, char **argv)
{
	ui_params p;
	const char *user = getenv("USER");
	char err[1024];
	enum { O_USER = UI_O_END, O_TRACE };
	static const struct option lo[] = {
		UI_OPTIONS, { "user", 1, 0, O_USER }, { "trace", 0, 0, O_TRACE }, { 0, 0, 0, 0 },
	};
	int ch;

	diag_init(argv[0]);
	ui_params_default(&p);
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_USER: user = optarg; break;
		case O_TRACE: G.trace = 1; break;
		default:
			if (!ui_params_option(&p, ch, optarg))
				usage();
		}
	}
	if (optind != argc || !p.cache || !p.labels || !p.classes)
		usage();
	if (!user || !*user)
		user = "desktop";
	if (strlen(user) > UI_NAME_MAX || strpbrk(user, "\t\n\r\\"))
		cs_die(CS_EXIT_USAGE, "--user: at most %d bytes, no TAB, newline or backslash", UI_NAME_MAX);
	if (!gtk_init_check())
		cs_die(CS_EXIT_IO, "cannot open the display (is DISPLAY or WAYLAND_DISPLAY set?)");
	ui_img_init(argv[0]);
	int ost;
	G.core = ui_core_open(&p, argv[0], &ost, err, sizeof err);
	if (!G.core)
		cs_die(ost, "%s", err);
	G.img = ui_imgcache_new(64u << 20);
	G.sid = ui_core_session(G.core, user);

	GtkApplication *app = gtk_application_new("org.clipsort.Labeller", G_APPLICATION_NON_UNIQUE);
	g_signal_connect(app, "activate", G_CALLBACK(activate), NULL);
	char *gargv[] = { argv[0], NULL };
	int st = g_application_run(G_APPLICATION(app), 1, gargv);
	g_object_unref(app);
	ui_core_free(G.core);
	ui_imgcache_free(G.img);
	return st == 0 ? CS_EXIT_OK : CS_EXIT_INTERNAL;
}
