package video

import (
	"errors"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// audioCopier remuxes the audio stream of a source file into a Writer's
// MP4 unchanged (stream copy: no decoding, no re-encoding), keeping its
// timing relative to the source's video stream, which is what the Writer's
// frame timestamps are relative to.
type audioCopier struct {
	src    string
	in     *astiav.FormatContext
	ist    *astiav.Stream
	ost    *astiav.Stream
	pkt    *astiav.Packet
	offset int64 // video stream start, in the audio time base
	done   bool
	copied int
}

// newAudioCopier opens src and adds a copy of its best audio stream to
// out. It returns nil, nil when src has no audio stream.
func newAudioCopier(src string, out *astiav.FormatContext) (_ *audioCopier, err error) {
	a := &audioCopier{src: src, in: astiav.AllocFormatContext()}
	if a.in == nil {
		return nil, fmt.Errorf("copy audio from %s: cannot allocate a demuxer (out of memory?)", src)
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := a.in.OpenInput(ffmpegPath(src), nil, nil); err != nil {
		a.in.Free()
		a.in = nil
		return nil, fmt.Errorf("copy audio from %s: %w; check that the input still exists", src, err)
	}
	if err := a.in.FindStreamInfo(nil); err != nil {
		return nil, fmt.Errorf("copy audio from %s: read stream info: %w", src, err)
	}
	var video *astiav.Stream
	for _, st := range a.in.Streams() {
		switch st.CodecParameters().MediaType() {
		case astiav.MediaTypeAudio:
			if a.ist == nil {
				a.ist = st
			}
		case astiav.MediaTypeVideo:
			if video == nil {
				video = st
			}
		}
	}
	if a.ist == nil {
		a.close()
		return nil, nil
	}
	if video != nil && video.StartTime() != astiav.NoPtsValue {
		a.offset = astiav.RescaleQ(video.StartTime(), video.TimeBase(), a.ist.TimeBase())
	}
	a.ost = out.NewStream(nil)
	if a.ost == nil {
		return nil, fmt.Errorf("copy audio from %s: cannot add an audio stream to the output", src)
	}
	if err := a.ist.CodecParameters().Copy(a.ost.CodecParameters()); err != nil {
		return nil, fmt.Errorf("copy audio from %s: copy codec parameters: %w", src, err)
	}
	a.ost.CodecParameters().SetCodecTag(0)
	a.ost.SetTimeBase(a.ist.TimeBase())
	a.pkt = astiav.AllocPacket()
	return a, nil
}

// pump writes the source's audio packets that start before until (all of
// them when until < 0) into out.
func (a *audioCopier) pump(out *astiav.FormatContext, until time.Duration) error {
	for !a.done {
		if err := a.in.ReadFrame(a.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				a.done = true
				return nil
			}
			return fmt.Errorf("copy audio from %s: read: %w", a.src, err)
		}
		if a.pkt.StreamIndex() != a.ist.Index() {
			a.pkt.Unref()
			continue
		}
		pts := a.pkt.Pts()
		if pts == astiav.NoPtsValue {
			pts = a.pkt.Dts()
		}
		a.shift()
		a.pkt.SetStreamIndex(a.ost.Index())
		a.pkt.SetPos(-1)
		a.pkt.RescaleTs(a.ist.TimeBase(), a.ost.TimeBase())
		err := out.WriteInterleavedFrame(a.pkt)
		a.pkt.Unref()
		if err != nil {
			return fmt.Errorf("copy audio from %s: mux: %w", a.src, err)
		}
		a.copied++
		if until >= 0 && pts != astiav.NoPtsValue && tsToDuration(pts-a.offset, a.ist.TimeBase()) >= until {
			return nil
		}
	}
	return nil
}

// shift moves the packet's timestamps so that the video stream's start is 0.
func (a *audioCopier) shift() {
	if a.offset == 0 {
		return
	}
	if p := a.pkt.Pts(); p != astiav.NoPtsValue {
		a.pkt.SetPts(p - a.offset)
	}
	if d := a.pkt.Dts(); d != astiav.NoPtsValue {
		a.pkt.SetDts(d - a.offset)
	}
}

func (a *audioCopier) close() {
	if a == nil {
		return
	}
	if a.pkt != nil {
		a.pkt.Free()
		a.pkt = nil
	}
	if a.in != nil {
		a.in.CloseInput()
		a.in.Free()
		a.in = nil
	}
}
