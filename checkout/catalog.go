package checkout

import (
	"fmt"
	"log/slog"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/elements/match"
	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
)

// OpenCatalog opens (or joins, package recognition) the catalog that the upload pipeline's
// ebrcs_match counts from: its catalog, embedder and model-dir, or the element's defaults.
// It is the catalog to give Config.Store, so that the products a cart counts and the ones its
// edits and purchases are resolved against can never disagree; the admin API registers
// products in it too. recognition.CloseAll closes it.
//
// With recordURL (a PostgreSQL database, `catalog_url`), that database is the catalog of
// record and the directory this node's replica of it; pipelines that name the same directory
// share the replica. Opened first, before any pipeline, so that they join it.
func OpenCatalog(pipeline *pipelines.Spec, recordURL string, log *slog.Logger) (*data.Catalog, error) {
	if !pipeline.Uses(match.Name) {
		return nil, fmt.Errorf("%s: the checkout pipeline has no %s: it could not recognise products", pipeline.File, match.Name)
	}
	// The element's defaults where the file does not set them.
	property := func(name, fallback string) string {
		if v, ok := pipeline.Property(match.Name, name); ok {
			return v
		}
		return fallback
	}
	emb, err := recognition.OpenEmbedder(property(match.PropEmbedder, ""), property(match.PropModelDir, models.DefaultDir))
	if err != nil {
		return nil, err
	}
	opts := data.Options{RecordURL: recordURL}
	if recordURL != "" {
		opts.Logger = log // the replica's state is the operator's business
	}
	return recognition.OpenCatalog(property(match.PropCatalog, match.DefaultCatalog), emb, opts)
}
