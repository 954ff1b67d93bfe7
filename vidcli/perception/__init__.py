"""People in videos: mediapipe BlazePose models (`blazepose`), multi-person finding (`people`) and
tracking (`tracker`), shared by the track, masks and keypoints stages."""
