package export

import (
	"samtrack/mask"
	"samtrack/tracker"
)

// RenderOverlay draws into dst (w*h*3 RGB, overwritten) a frame's overlay
// exactly as overlay.mp4 shows it: each object's mask blended at half
// opacity in its DAVIS palette colour, a solid outline and its id at its
// centroid. rgb is the frame (w*h*3), labels its label map.
func RenderOverlay(dst, rgb []byte, labels *mask.LabelMap, objs []tracker.ObjectStats) {
	renderOverlay(dst, rgb, labels, objs, mask.DavisPalette())
}
