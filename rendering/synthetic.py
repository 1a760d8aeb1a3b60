"""Generated media for the demo and the tests. No real person: the face is drawn, the voice is synthesised.

`synthetic_portrait` draws a shaded head-and-shoulders portrait that OpenCV's frontal-face cascade
detects (so it goes through the same clone path as an upload); `speech_like_audio` makes
syllable-rate, formant-shaped voiced sound with unvoiced bursts, pitch contours and pauses, so the
mouth visibly follows it.
"""
from __future__ import annotations

import io
import wave

import cv2
import numpy as np

SKIN_TONES = [(224, 182, 150), (198, 148, 112), (160, 112, 80), (236, 200, 172), (138, 94, 66)]
HAIR_COLOURS = [(46, 32, 26), (20, 18, 18), (96, 62, 36), (140, 110, 70), (70, 40, 30)]
SHIRT_COLOURS = [(40, 70, 120), (120, 40, 50), (50, 100, 80), (80, 80, 90), (160, 130, 60)]
IRIS_COLOURS = [(70, 45, 30), (60, 90, 120), (70, 100, 60), (40, 30, 25)]


def _shade(canvas: np.ndarray, mask: np.ndarray, colour, *, centre, radii, light=(-0.35, -0.45)) -> None:
    """Paint `colour` into `mask` with soft spherical lighting around `centre` (all in canvas px)."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    u = (xs - centre[0]) / radii[0]
    v = (ys - centre[1]) / radii[1]
    r2 = np.clip(u * u + v * v, 0.0, 1.0)
    nz = np.sqrt(1.0 - r2)
    lambert = np.clip(nz + light[0] * -u + light[1] * -v, 0.0, None) / np.sqrt(1 + light[0] ** 2 + light[1] ** 2)
    shade = 0.55 + 0.5 * lambert
    painted = np.clip(np.asarray(colour, np.float32)[None, None, :] * shade[..., None], 0, 255)
    alpha = mask[y0:y1, x0:x1].astype(np.float32)[..., None] / 255.0
    region = canvas[y0:y1, x0:x1]
    region[:] = (region * (1 - alpha) + painted * alpha).astype(np.uint8)


def _ellipse_mask(shape, centre, axes, angle=0.0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    centre, axes = (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1]))
    cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    return mask


def synthetic_portrait(size: int = 512, seed: int = 0) -> np.ndarray:
    """A drawn, shaded, front-facing head-and-shoulders portrait, (size, size, 3) RGB uint8."""
    if size < 96:
        raise ValueError(f"size must be at least 96 px; got {size}.")
    rng = np.random.default_rng(seed)
    skin = np.array(SKIN_TONES[seed % len(SKIN_TONES)], np.float32) + rng.normal(0, 6, 3)
    hair = HAIR_COLOURS[(seed // 2) % len(HAIR_COLOURS)]
    shirt = SHIRT_COLOURS[seed % len(SHIRT_COLOURS)]
    iris = IRIS_COLOURS[seed % len(IRIS_COLOURS)]
    s = 2 * size  # draw at twice the size, then downsample: smooth edges
    k = s / 1024.0  # the layout below is designed on a 1024 px canvas
    P = lambda *v: tuple(int(round(x * k)) for x in v)  # noqa: E731

    ys = np.linspace(0.0, 1.0, s, dtype=np.float32)[:, None, None]
    top = np.array([196, 206, 214], np.float32) + rng.normal(0, 8, 3)
    bottom = np.array([120, 132, 150], np.float32) + rng.normal(0, 8, 3)
    canvas = np.broadcast_to(top * (1 - ys) + bottom * ys, (s, s, 3)).astype(np.uint8).copy()

    shape = (s, s)
    cx, cy = 512 + rng.uniform(-10, 10), 430 + rng.uniform(-8, 8)
    face_rx, face_ry = 180 + rng.uniform(-8, 8), 215 + rng.uniform(-8, 8)

    # Shoulders and neck.
    _shade(canvas, _ellipse_mask(shape, P(cx, 1010), P(430, 250)), shirt, centre=P(cx, 940), radii=P(450, 300))
    neck = np.zeros(shape, np.uint8)
    cv2.rectangle(neck, P(cx - 78, cy + 120), P(cx + 78, cy + 380), 255, -1)
    _shade(canvas, neck, skin * 0.82, centre=P(cx, cy + 250), radii=P(110, 220))
    collar = np.zeros(shape, np.uint8)
    cv2.ellipse(collar, P(cx, cy + 370), P(90, 40), 0, 0, 180, 255, -1, cv2.LINE_AA)
    _shade(canvas, collar, skin * 0.78, centre=P(cx, cy + 360), radii=P(100, 60))

    # Hair behind the head, ears, the face.
    _shade(canvas, _ellipse_mask(shape, P(cx, cy - 40), P(face_rx + 36, face_ry + 10)), hair,
           centre=P(cx, cy - 80), radii=P(face_rx + 40, face_ry + 40))
    for side in (-1, 1):
        _shade(canvas, _ellipse_mask(shape, P(cx + side * (face_rx - 6), cy + 10), P(30, 52)), skin * 0.92,
               centre=P(cx + side * (face_rx - 6), cy + 10), radii=P(34, 56))
    face = _ellipse_mask(shape, P(cx, cy), P(face_rx, face_ry))
    _shade(canvas, face, skin, centre=P(cx, cy), radii=P(face_rx, face_ry))
    # Fringe: hair over the top of the forehead.
    fringe = np.zeros(shape, np.uint8)
    cv2.ellipse(fringe, P(cx, cy - 170), P(face_rx + 8, 100), 0, 180, 360, 255, -1, cv2.LINE_AA)
    cv2.ellipse(fringe, P(cx + 20, cy - 170), P(face_rx - 10, 36), 0, 0, 180, 255, -1, cv2.LINE_AA)
    _shade(canvas, fringe, hair, centre=P(cx, cy - 200), radii=P(face_rx + 20, 140))

    # Eyes: sockets, whites, irises, pupils, highlights, lids, brows.
    eye_dx, eye_y = 72 + rng.uniform(-4, 4), cy - 30
    for side in (-1, 1):
        ex = cx + side * eye_dx
        socket = _ellipse_mask(shape, P(ex, eye_y - 8), P(58, 34))
        socket = cv2.GaussianBlur(socket, (0, 0), 10 * k)
        _shade(canvas, socket, skin * 0.6, centre=P(ex, eye_y), radii=P(60, 40))
        cv2.ellipse(canvas, P(ex, eye_y), P(42, 19), 0, 0, 360, (206, 198, 192), -1, cv2.LINE_AA)
        cv2.circle(canvas, P(ex, eye_y + 1), int(19 * k), iris, -1, cv2.LINE_AA)
        cv2.circle(canvas, P(ex, eye_y + 1), int(7 * k), (12, 10, 10), -1, cv2.LINE_AA)
        cv2.circle(canvas, P(ex - 5, eye_y - 5), int(4 * k), (250, 250, 250), -1, cv2.LINE_AA)
        cv2.ellipse(canvas, P(ex, eye_y), P(44, 20), 0, 180, 360, (30, 22, 20), int(10 * k), cv2.LINE_AA)
        cv2.ellipse(canvas, P(ex, eye_y - 42), P(50, 14), 0, 190 if side < 0 else 200, 340 if side < 0 else 350,
                    tuple(int(min(c * 0.55, 50)) for c in hair), int(14 * k), cv2.LINE_AA)

    # Nose: a soft shadow along one side and the nostrils.
    nose = np.zeros(shape, np.uint8)
    cv2.ellipse(nose, P(cx + 10, cy + 45), P(16, 70), 0, 0, 360, 120, -1, cv2.LINE_AA)
    nose = cv2.GaussianBlur(nose, (0, 0), 9 * k)
    _shade(canvas, nose, skin * 0.78, centre=P(cx, cy + 40), radii=P(40, 80))
    bridge = cv2.GaussianBlur(_ellipse_mask(shape, P(cx - 4, cy + 30), P(12, 70)), (0, 0), 8 * k)
    highlight = np.minimum(skin * 1.15, 255)
    _shade(canvas, (bridge * 0.6).astype(np.uint8), highlight, centre=P(cx, cy + 30), radii=P(40, 90))
    for side in (-1, 1):
        cv2.ellipse(canvas, P(cx + side * 17, cy + 100), P(10, 6), 0, 0, 360,
                    tuple(int(c) for c in skin * 0.45), -1, cv2.LINE_AA)

    # Mouth: lips with a dark seam, a little shadow below.
    mouth_y = cy + 140
    lip = np.array([178, 86, 86], np.float32) * 0.6 + skin * 0.4
    chin_shadow = cv2.GaussianBlur(_ellipse_mask(shape, P(cx, mouth_y + 40), P(50, 14)), (0, 0), 8 * k)
    _shade(canvas, chin_shadow, skin * 0.82, centre=P(cx, mouth_y + 40), radii=P(60, 30))
    lips = np.zeros(shape, np.uint8)
    cv2.ellipse(lips, P(cx, mouth_y), P(62, 13), 0, 180, 360, 255, -1, cv2.LINE_AA)
    cv2.ellipse(lips, P(cx, mouth_y), P(58, 19), 0, 0, 180, 255, -1, cv2.LINE_AA)
    _shade(canvas, lips, lip, centre=P(cx, mouth_y), radii=P(70, 30))
    seam = tuple(int(c) for c in lip * 0.35)
    cv2.line(canvas, P(cx - 60, mouth_y), P(cx + 60, mouth_y), seam, int(5 * k), cv2.LINE_AA)

    # Cheeks and a faint skin texture keep the face from looking flat.
    for side in (-1, 1):
        blush = cv2.GaussianBlur(_ellipse_mask(shape, P(cx + side * 100, cy + 70), P(45, 30)), (0, 0), 18 * k)
        _shade(canvas, (blush * 0.35).astype(np.uint8), (210, 120, 110), centre=P(cx, cy), radii=P(400, 400))
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    small += rng.normal(0.0, 2.0, small.shape).astype(np.float32)
    return np.clip(small, 0, 255).astype(np.uint8)


def speech_like_audio(seconds: float, sample_rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Synthetic speech-like sound: mono float32 in [-1, 1], `seconds` long.

    Phrases of syllables (4–6 per second) separated by pauses; each syllable is a voiced vowel
    (harmonics of a gliding pitch shaped by vowel formants) with an optional unvoiced consonant
    burst, under an attack–decay envelope.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive; got {seconds}.")
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    envelope = np.zeros(n, np.float32)
    noise_env = np.zeros(n, np.float32)
    formant1 = np.full(n, 500.0, np.float32)
    formant2 = np.full(n, 1500.0, np.float32)
    vowels = [(730, 1090), (270, 2290), (300, 870), (530, 1840), (570, 840), (660, 1720)]  # a i u e o æ

    position = rng.uniform(0.05, 0.25)
    phrases = [(position, position + rng.uniform(1.2, 2.6))]
    while position < seconds:
        if position > phrases[-1][1]:  # a pause between phrases
            position += rng.uniform(0.25, 0.6)
            phrases.append((position, position + rng.uniform(1.2, 2.6)))
            continue
        length = rng.uniform(0.14, 0.26)
        a, b = int(position * sample_rate), min(n, int((position + length) * sample_rate))
        if b <= a:
            break
        local = np.linspace(0.0, 1.0, b - a, dtype=np.float32)
        attack_decay = np.minimum(local / 0.18, 1.0) * (1 - local) ** 0.7
        envelope[a:b] = np.maximum(envelope[a:b], attack_decay * rng.uniform(0.55, 1.0))
        f1, f2 = vowels[rng.integers(len(vowels))]
        formant1[a:b], formant2[a:b] = f1, f2
        if rng.random() < 0.45:  # consonant burst just before the vowel
            c0 = max(0, a - int(0.06 * sample_rate))
            noise_env[c0:a] = np.hanning(a - c0) * rng.uniform(0.2, 0.5) if a > c0 else 0
        position += length + rng.uniform(0.02, 0.09)

    # Pitch: falling through each phrase (declination), with a slow swing and a little wobble.
    contour = np.ones(n)
    for start, end in phrases:
        a, b = int(start * sample_rate), min(n, int(end * sample_rate))
        if b > a:
            contour[a:b] = np.linspace(1.12, 0.88, b - a)
    swing = 0.12 * np.sin(2 * np.pi * 0.35 * t + rng.uniform(0, 6)) + 0.05 * np.sin(2 * np.pi * 3.1 * t)
    pitch = rng.uniform(120, 200) * contour * (1 + swing)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    smooth = np.hanning(int(0.03 * sample_rate))
    smooth /= smooth.sum()
    formant1 = np.convolve(formant1, smooth, mode="same")
    formant2 = np.convolve(formant2, smooth, mode="same")
    voiced = np.zeros(n, np.float64)
    for harmonic in range(1, 30):
        freq = harmonic * pitch
        gain = (
            np.exp(-(((freq - formant1) / 110) ** 2))
            + 0.7 * np.exp(-(((freq - formant2) / 160) ** 2))
            + 0.15 / harmonic
        )
        gain[freq > sample_rate / 2 - 200] = 0.0
        voiced += gain * np.sin(harmonic * phase)
    voiced /= np.abs(voiced).max() + 1e-9
    noise = rng.normal(0.0, 1.0, n)
    noise = noise - np.convolve(noise, np.ones(4) / 4, mode="same")  # tilt towards the highs ("s", "t")
    signal = voiced * envelope + 0.6 * noise * noise_env
    signal += rng.normal(0.0, 1e-4, n)  # a faint room floor instead of digital silence
    soften = smooth[:: max(1, smooth.size // 8)]
    signal = 0.7 * signal + 0.3 * np.convolve(signal, soften / soften.sum(), mode="same")  # less buzzy
    return (0.6 * signal / (np.abs(signal).max() + 1e-9)).astype(np.float32)


def speech_like_wav(seconds: float, sample_rate: int = 16_000, seed: int = 0) -> bytes:
    """`speech_like_audio` as a 16-bit mono WAV file, the way an upload would arrive."""
    samples = (speech_like_audio(seconds, sample_rate=sample_rate, seed=seed) * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()
