"""The embedded inpainting backend: flow completion, propagation and spatial fill on the CPU, no weights
(`vidcli.inpaint.flow_guided`)."""

from __future__ import annotations

from vidcli.inpaint.flow_guided import FlowGuidedFill, FlowGuidedOptions


class FlowGuidedInpainter:
    model = "flow-guided"
    checksum = None

    def __init__(self, config):
        self._fill = FlowGuidedFill(FlowGuidedOptions.of(config))

    def inpaint(self, video, write) -> None:
        self._fill.run(video, write)

    def counts(self) -> dict:
        return dict(self._fill.counts)
