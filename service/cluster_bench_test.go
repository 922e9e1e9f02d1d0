package service

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"samtrack/internal/natstest"
	"samtrack/internal/rtsptest"
)

// BenchmarkClusterFileJobs measures file-job throughput of a cluster on
// this machine: 6 jobs (cat.mp4, 149 frames each, built-in path) queued at
// once on serve (external nats-server, no local worker) for 1, 2 and 3
// worker processes, against the same jobs run one after another by
// `samtrack track` in the same run (3 of them, process start included as
// for the workers' jobs). frames/s is the cluster's total from the first
// submission to the last job's end; x_track is that over the sequential
// `samtrack track` runs' frames/s.
func BenchmarkClusterFileJobs(b *testing.B) {
	needVideos(b)
	input := abs(b, catMP4)
	start := time.Now()
	for range 3 {
		trackCLI(b, input, 300, 170, 0)
	}
	alone := 3 * 149 / time.Since(start).Seconds()
	b.Logf("samtrack track, one job after another: %.1f frames/s", alone)
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				nats := natstest.Start(b)
				ts := clusterServer(b, nats.URL, Options{MaxQueue: 32})
				for i := range workers {
					startWorker(b, nats.URL, ts.data, fmt.Sprintf("w%d", i+1), "--max-live", "0")
				}
				time.Sleep(time.Second) // workers up
				const jobs = 6
				t0 := time.Now()
				var ids []string
				for range jobs {
					ids = append(ids, ts.createJob(pointJob(input, 300, 170, map[string]any{"track.overlay": false})))
				}
				frames := 0
				for _, id := range ids {
					v := ts.waitJob(id, 10*time.Minute, "finish", finished)
					frames += v.FramesDone
				}
				fps := float64(frames) / time.Since(t0).Seconds()
				b.ReportMetric(fps, "frames/s")
				b.ReportMetric(fps/alone, "x_track")
			}
		})
	}
}

// BenchmarkClusterCameras measures how many cameras one worker keeps up
// with on this machine: K RTSP test cameras (cat.mp4 looped at its 30 fps,
// 568x320, built-in path) on one worker process for 20 s. tracked_fps is
// the mean frames a second each camera's job tracked; x_stream is that
// over the stream's 30 fps; dropped_pct the share of frames dropped to
// keep up.
func BenchmarkClusterCameras(b *testing.B) {
	needVideos(b)
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg is needed to publish the test streams")
	}
	for _, k := range []int{1, 2, 4, 6} {
		b.Run(fmt.Sprintf("cameras=%d", k), func(b *testing.B) {
			for range b.N {
				rtsp := rtsptest.New(b)
				nats := natstest.Start(b)
				ts := clusterServer(b, nats.URL, Options{AllowNets: []string{"127.0.0.0/8"}})
				startWorker(b, nats.URL, ts.data, "w1", "--max-jobs", "0", "--max-live", fmt.Sprint(k), "--allow-net", "127.0.0.0/8")
				var ids []string
				for i := range k {
					path := fmt.Sprintf("cam%d", i+1)
					p, err := rtsptest.StartPublisher(context.Background(), abs(b, catMP4), rtsp.URL(path))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { p.Stop() })
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					err = rtsp.WaitPublishing(ctx, path, true)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
					ids = append(ids, ts.createJob(map[string]any{"input": rtsp.URL(path), "prompts": onePoint(300, 170),
						"options": map[string]any{"track.overlay": false}}))
				}
				for _, id := range ids {
					ts.waitJob(id, time.Minute, "tracking", func(v JobView) bool { return v.FramesDone >= 30 || finished(v) })
				}
				first := map[string]JobView{}
				for _, id := range ids {
					first[id] = ts.job(id)
				}
				const window = 20 * time.Second
				time.Sleep(window)
				var fps, dropped, seen float64
				for _, id := range ids {
					v, f := ts.job(id), first[id]
					done, drop := float64(v.FramesDone-f.FramesDone), float64(v.Dropped-f.Dropped)
					fps += done / window.Seconds()
					dropped += drop
					seen += done + drop
				}
				b.ReportMetric(fps/float64(k), "tracked_fps")
				b.ReportMetric(fps/float64(k)/30, "x_stream")
				b.ReportMetric(100*dropped/max(seen, 1), "dropped_pct")
			}
		})
	}
}
