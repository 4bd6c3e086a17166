package checkout

import (
	"fmt"

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
func OpenCatalog(pipeline *pipelines.Spec) (*data.Catalog, error) {
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
	return recognition.OpenCatalog(property(match.PropCatalog, match.DefaultCatalog), emb, data.Options{})
}
