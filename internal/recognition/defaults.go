package recognition

import "github.com/ebrcs/ebrcs/models"

// DefaultThreshold is the match threshold calibrated for the default embedding on the
// GroceryStore val photos with every 4th product left out of the catalog (`ebrcs eval
// --holdout 4`): the one that maximises the share of right answers, known and unknown
// products together.
const DefaultThreshold = 0.79

// DefaultCatalogViews are the augmented views registered with every catalog photo. With
// prototype matching (each product is the mean of its vectors) they lift top-1 on the
// GroceryStore val photos from 61.8% to 67.2% (see the recognition issue's notes); the
// product's photos are embedded 5 times instead of once, about 20 ms each.
var DefaultCatalogViews = []string{"hflip", "crop90", "crop75", "crop60"}

// DefaultEmbedderConfig is the built-in embedding: the MobileNetV2-int8 encoder (the real
// pretrained model, 1280-d pooled features) with catalog views; configs/embedders/default.yaml
// spells out the same thing as a file to copy and edit.
func DefaultEmbedderConfig(modelDir string) EmbedderConfig {
	cfg := models.DefaultHybridConfig(modelDir)
	cfg.CatalogViews = append([]string(nil), DefaultCatalogViews...)
	return EmbedderConfig{HybridConfig: cfg, Threshold: DefaultThreshold}
}
