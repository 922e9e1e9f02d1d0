module samtrack

go 1.26

require github.com/yalue/onnxruntime_go v1.30.0
