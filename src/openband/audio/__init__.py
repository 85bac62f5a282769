"""Audio for calls: 16-bit mono PCM and what is done with it, as a leaf package.

- pcm: the `Audio` value (16-bit little-endian mono PCM at a rate, with a label saying what it
  is), silence, concatenation, mixing at offsets (a call recording) and resampling;
- files: WAV and MP3 in (any rate, width, channels → 8 kHz mono) and out, with hard limits;
- dtmf: ITU-T Q.23 dual tones for a digit string, and a Goertzel detector to find them again;
- speech: text (and Bandwidth's SSML subset) to speech with espeak-ng, pooled and cached.

Both the call engine (core/) and the simulated network (network/sim/) use it, and network may
not import core, so nothing here imports anything else of openband's.
"""
