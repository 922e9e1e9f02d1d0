package models

import (
	"fmt"
	"os"
	"path/filepath"

	"samtrack/config"
)

// ConfiguredStore is the model directory configuration names (models.dir,
// else $SAMTRACK_CACHE/models, else the user cache's samtrack/models).
func ConfiguredStore(c config.Config) (Store, error) {
	dir := c.Models.Dir
	if dir == "" {
		cache := os.Getenv("SAMTRACK_CACHE")
		if cache == "" {
			d, err := os.UserCacheDir()
			if err != nil {
				return Store{}, fmt.Errorf("find a cache directory: %w; set models.dir", err)
			}
			cache = filepath.Join(d, "samtrack")
		}
		dir = filepath.Join(cache, "models")
	}
	return Store{Dir: dir, Mirror: c.Models.Mirror}, nil
}

// Catalogue is the builtin registry plus the store's registrations.
func (s Store) Catalogue() (*Catalogue, error) {
	user, err := s.UserModels()
	if err != nil {
		return nil, err
	}
	return NewCatalogue(user)
}
