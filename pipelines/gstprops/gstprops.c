#include "gstprops.h"
#include <string.h>
#include <gst/video/video.h>

static GObjectClass *factory_class(const char *factory_name, GstElementFactory **out_factory)
{
	GstElementFactory *factory = gst_element_factory_find(factory_name);
	if (factory == NULL)
		return NULL;
	/* A factory from the registry cache may not be loaded yet; loading gives us its GType. */
	GstPluginFeature *loaded = gst_plugin_feature_load(GST_PLUGIN_FEATURE(factory));
	gst_object_unref(factory);
	if (loaded == NULL)
		return NULL;
	factory = GST_ELEMENT_FACTORY(loaded);
	GType type = gst_element_factory_get_element_type(factory);
	if (type == G_TYPE_INVALID) {
		gst_object_unref(factory);
		return NULL;
	}
	if (out_factory != NULL)
		*out_factory = factory;
	else
		gst_object_unref(factory);
	return G_OBJECT_CLASS(g_type_class_ref(type));
}

static int kind_of(GParamSpec *p)
{
	GType t = G_PARAM_SPEC_VALUE_TYPE(p);
	if (t == G_TYPE_BOOLEAN) return EBRCS_KIND_BOOL;
	if (t == G_TYPE_INT || t == G_TYPE_UINT || t == G_TYPE_INT64 || t == G_TYPE_UINT64 ||
	    t == G_TYPE_LONG || t == G_TYPE_ULONG || t == G_TYPE_CHAR || t == G_TYPE_UCHAR)
		return EBRCS_KIND_INT;
	if (t == G_TYPE_FLOAT || t == G_TYPE_DOUBLE) return EBRCS_KIND_FLOAT;
	if (t == G_TYPE_STRING) return EBRCS_KIND_STRING;
	if (G_TYPE_IS_ENUM(t)) return EBRCS_KIND_ENUM;
	if (G_TYPE_IS_FLAGS(t)) return EBRCS_KIND_FLAGS;
	return EBRCS_KIND_OTHER;
}

static void range_of(GParamSpec *p, char **min, char **max)
{
	*min = *max = NULL;
#define RANGE(CHECK, CAST, FMT, CT) \
	if (CHECK(p)) { *min = g_strdup_printf(FMT, (CT)CAST(p)->minimum); *max = g_strdup_printf(FMT, (CT)CAST(p)->maximum); return; }
	RANGE(G_IS_PARAM_SPEC_INT, G_PARAM_SPEC_INT, "%d", gint)
	RANGE(G_IS_PARAM_SPEC_UINT, G_PARAM_SPEC_UINT, "%u", guint)
	RANGE(G_IS_PARAM_SPEC_INT64, G_PARAM_SPEC_INT64, "%" G_GINT64_FORMAT, gint64)
	RANGE(G_IS_PARAM_SPEC_UINT64, G_PARAM_SPEC_UINT64, "%" G_GUINT64_FORMAT, guint64)
	RANGE(G_IS_PARAM_SPEC_LONG, G_PARAM_SPEC_LONG, "%ld", glong)
	RANGE(G_IS_PARAM_SPEC_ULONG, G_PARAM_SPEC_ULONG, "%lu", gulong)
	RANGE(G_IS_PARAM_SPEC_FLOAT, G_PARAM_SPEC_FLOAT, "%g", gdouble)
	RANGE(G_IS_PARAM_SPEC_DOUBLE, G_PARAM_SPEC_DOUBLE, "%g", gdouble)
#undef RANGE
}

static char *choices_of(GParamSpec *p)
{
	GString *s = NULL;
	if (G_IS_PARAM_SPEC_ENUM(p)) {
		GEnumClass *ec = G_PARAM_SPEC_ENUM(p)->enum_class;
		s = g_string_new(NULL);
		for (guint i = 0; i < ec->n_values; i++)
			g_string_append_printf(s, "%s%s", i ? "\n" : "", ec->values[i].value_nick);
	} else if (G_IS_PARAM_SPEC_FLAGS(p)) {
		GFlagsClass *fc = G_PARAM_SPEC_FLAGS(p)->flags_class;
		s = g_string_new(NULL);
		for (guint i = 0; i < fc->n_values; i++)
			g_string_append_printf(s, "%s%s", i ? "\n" : "", fc->values[i].value_nick);
	}
	return s ? g_string_free(s, FALSE) : NULL;
}

int ebrcs_factory_props(const char *factory, EbrcsPropSpec **out)
{
	GObjectClass *klass = factory_class(factory, NULL);
	if (klass == NULL)
		return -1;
	guint n = 0;
	GParamSpec **specs = g_object_class_list_properties(klass, &n);
	EbrcsPropSpec *props = g_new0(EbrcsPropSpec, n ? n : 1);
	for (guint i = 0; i < n; i++) {
		GParamSpec *p = specs[i];
		EbrcsPropSpec *o = &props[i];
		o->name = g_strdup(g_param_spec_get_name(p));
		o->blurb = g_strdup(g_param_spec_get_blurb(p));
		o->type_name = g_strdup(g_type_name(G_PARAM_SPEC_VALUE_TYPE(p)));
		o->kind = kind_of(p);
		o->readable = (p->flags & G_PARAM_READABLE) != 0;
		o->writable = (p->flags & G_PARAM_WRITABLE) != 0;
		o->construct_only = (p->flags & G_PARAM_CONSTRUCT_ONLY) != 0;
		o->mutable_playing = (p->flags & GST_PARAM_MUTABLE_PLAYING) != 0;
		const GValue *def = g_param_spec_get_default_value(p);
		if (def != NULL && o->kind != EBRCS_KIND_OTHER)
			o->default_str = gst_value_serialize(def);
		range_of(p, &o->min_str, &o->max_str);
		o->choices = choices_of(p);
	}
	g_free(specs);
	g_type_class_unref(klass);
	*out = props;
	return (int)n;
}

void ebrcs_free_props(EbrcsPropSpec *props, int n)
{
	for (int i = 0; i < n; i++) {
		g_free(props[i].name);
		g_free(props[i].blurb);
		g_free(props[i].type_name);
		g_free(props[i].default_str);
		g_free(props[i].min_str);
		g_free(props[i].max_str);
		g_free(props[i].choices);
	}
	g_free(props);
}

/* parse_value turns value into a GValue of the property's type and checks it against the
 * spec's range. Returns NULL on success. */
static char *parse_value(GParamSpec *p, const char *value, GValue *out)
{
	g_value_init(out, G_PARAM_SPEC_VALUE_TYPE(p));
	if (!gst_value_deserialize_with_pspec(out, value, p))
		return g_strdup_printf("cannot parse \"%s\" as %s", value, g_type_name(G_PARAM_SPEC_VALUE_TYPE(p)));
	/* g_param_value_validate fixes the value up and says so when it was out of range. */
	GValue copy = G_VALUE_INIT;
	g_value_init(&copy, G_PARAM_SPEC_VALUE_TYPE(p));
	g_value_copy(out, &copy);
	gboolean modified = g_param_value_validate(p, &copy);
	g_value_unset(&copy);
	if (modified) {
		char *min = NULL, *max = NULL;
		range_of(p, &min, &max);
		char *msg = min ? g_strdup_printf("%s is out of range [%s, %s]", value, min, max)
				: g_strdup_printf("%s is not a valid value", value);
		g_free(min);
		g_free(max);
		return msg;
	}
	return NULL;
}

char *ebrcs_check_prop_value(const char *factory, const char *prop, const char *value)
{
	GObjectClass *klass = factory_class(factory, NULL);
	if (klass == NULL)
		return g_strdup_printf("no element factory \"%s\"", factory);
	GParamSpec *p = g_object_class_find_property(klass, prop);
	char *err = NULL;
	if (p == NULL) {
		err = g_strdup_printf("no property \"%s\"", prop);
	} else {
		GValue v = G_VALUE_INIT;
		err = parse_value(p, value, &v);
		if (G_IS_VALUE(&v))
			g_value_unset(&v);
	}
	g_type_class_unref(klass);
	return err;
}

char *ebrcs_set_prop_value(GstElement *element, const char *prop, const char *value)
{
	GParamSpec *p = g_object_class_find_property(G_OBJECT_GET_CLASS(element), prop);
	if (p == NULL)
		return g_strdup_printf("no property \"%s\"", prop);
	GValue v = G_VALUE_INIT;
	char *err = parse_value(p, value, &v);
	if (err == NULL)
		g_object_set_property(G_OBJECT(element), prop, &v);
	if (G_IS_VALUE(&v))
		g_value_unset(&v);
	return err;
}

char *ebrcs_factory_names(void)
{
	GList *features = gst_registry_get_feature_list(gst_registry_get(), GST_TYPE_ELEMENT_FACTORY);
	GString *s = g_string_new(NULL);
	for (GList *l = features; l != NULL; l = l->next) {
		if (s->len)
			g_string_append_c(s, '\n');
		g_string_append(s, gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(l->data)));
	}
	gst_plugin_feature_list_free(features);
	return g_string_free(s, FALSE);
}

int ebrcs_is_video_format(const char *name)
{
	return gst_video_format_from_string(name) != GST_VIDEO_FORMAT_UNKNOWN;
}

char *ebrcs_factory_klass(const char *factory)
{
	GstElementFactory *f = gst_element_factory_find(factory);
	if (f == NULL)
		return NULL;
	/* The metadata belongs to the factory: copied before the factory is released. */
	char *klass = g_strdup(gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS));
	gst_object_unref(f);
	return klass;
}
