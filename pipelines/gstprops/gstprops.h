#ifndef EBRCS_GSTPROPS_H
#define EBRCS_GSTPROPS_H
#include <gst/gst.h>

typedef struct {
	char *name;
	char *blurb;
	char *type_name;   /* GType name of the value: gint, gchararray, GstVideoTestSrcPattern... */
	int kind;          /* EBRCS_KIND_* */
	int readable, writable, construct_only, mutable_playing;
	char *default_str; /* serialised default, or NULL */
	char *min_str, *max_str; /* numeric range, or NULL */
	char *choices;     /* enum nicks / flag nicks joined by '\n', or NULL */
} EbrcsPropSpec;

enum {
	EBRCS_KIND_OTHER = 0,
	EBRCS_KIND_BOOL,
	EBRCS_KIND_INT,    /* any integer type */
	EBRCS_KIND_FLOAT,  /* float, double */
	EBRCS_KIND_STRING,
	EBRCS_KIND_ENUM,
	EBRCS_KIND_FLAGS,
};

/* Fills *out with the properties of the element factory's class; returns -1 if there is no
 * such factory, else the count. Free with ebrcs_free_props. */
int ebrcs_factory_props(const char *factory, EbrcsPropSpec **out);
void ebrcs_free_props(EbrcsPropSpec *props, int n);

/* Parses value for the property as GStreamer would and checks its range. Returns NULL when
 * valid, else an error message to g_free. */
char *ebrcs_check_prop_value(const char *factory, const char *prop, const char *value);

/* Sets a property from its string form on an element (the same parsing as the check). Returns
 * NULL on success, else an error to g_free. */
char *ebrcs_set_prop_value(GstElement *element, const char *prop, const char *value);

/* All element factory names, '\n'-separated; g_free the result. */
char *ebrcs_factory_names(void);
int ebrcs_is_video_format(const char *name);

/* The factory's klass metadata ("Sink/File"), or NULL if there is no such factory; g_free it. */
char *ebrcs_factory_klass(const char *factory);
#endif
