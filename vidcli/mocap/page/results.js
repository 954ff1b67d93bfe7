// The results page of a mocap export: the input video beside the 3D scene (the people's animated
// .glb bodies, the ground grid, the camera's path and its frustum), one frame slider for both.
// The data (camera, people, their .glb files in base64) sits in the page, so it opens from disk
// without a server; `window.vidcliPage` lets scripts and tests drive it.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('vidcli-data').textContent);
  const status = document.getElementById('status');
  const page = window.vidcliPage = { ready: false, frame: 0, view: 'orbit' };
  window.addEventListener('error', (event) => { status.textContent = String(event.message); });

  const slider = document.getElementById('slider');
  const label = document.getElementById('frame-label');
  const playButton = document.getElementById('play');
  const viewButton = document.getElementById('view');
  const canvas = document.getElementById('scene');
  const aspect = data.width / data.height;
  for (const pane of document.querySelectorAll('.pane')) {
    pane.style.aspectRatio = `${data.width} / ${data.height}`;
  }
  slider.max = data.frames - 1;

  const video = data.video ? document.createElement('video') : null;
  if (video) {
    video.src = data.video;
    video.muted = true;
    video.preload = 'auto';
    video.playsInline = true;
    // The overlay holds the frames (left) and a world view (right): the left half is shown.
    video.style.width = `${100 * data.video_halves}%`;
    document.getElementById('video-pane').appendChild(video);
  } else {
    const note = document.createElement('p');
    note.textContent = 'no video exported (add "video" to --exports)';
    document.getElementById('video-pane').appendChild(note);
  }

  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.outputEncoding = THREE.sRGBEncoding;
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x1c1c1c);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x303030, 0.9));
  const sun = new THREE.DirectionalLight(0xffffff, 0.7);
  sun.position.set(2, 6, 4);
  scene.add(sun);

  // Ground grid under everything that moves, 1 m cells.
  const points = data.camera.t_wc.concat(...data.people.map((person) => person.root));
  const xs = points.map((p) => p[0]), zs = points.map((p) => p[2]);
  const [minX, maxX, minZ, maxZ] = [Math.min(...xs), Math.max(...xs), Math.min(...zs), Math.max(...zs)];
  const gridSize = 2 * Math.ceil(Math.max(maxX - minX, maxZ - minZ) / 2 + 2);
  // Drawn as 1 m pieces: a line that passes behind the video camera can be dropped whole by the renderer.
  const gridPoints = [];
  const x0 = Math.round((minX + maxX) / 2) - gridSize / 2;
  const z0 = Math.round((minZ + maxZ) / 2) - gridSize / 2;
  for (let i = 0; i <= gridSize; i++) {
    for (let k = 0; k < gridSize; k++) {
      gridPoints.push(new THREE.Vector3(x0 + i, 0, z0 + k), new THREE.Vector3(x0 + i, 0, z0 + k + 1));
      gridPoints.push(new THREE.Vector3(x0 + k, 0, z0 + i), new THREE.Vector3(x0 + k + 1, 0, z0 + i));
    }
  }
  scene.add(new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints(gridPoints),
    new THREE.LineBasicMaterial({ color: 0x5a5a5a })));

  // Camera path and the camera's frustum (0.3 m deep) at the current frame.
  const pathPoints = data.camera.t_wc.map((p) => new THREE.Vector3(...p));
  const pathGeometry = new THREE.BufferGeometry().setFromPoints(pathPoints);
  scene.add(new THREE.Line(pathGeometry, new THREE.LineBasicMaterial({ color: 0xe0e0e0 })));
  const [fx, fy, cx, cy] = data.K;
  const depth = 0.3;
  const corners = [[0, 0], [data.width, 0], [data.width, data.height], [0, data.height]]
    .map(([u, v]) => new THREE.Vector3((u - cx) / fx * depth, (v - cy) / fy * depth, depth));
  const frustumPoints = [];
  corners.forEach((corner, i) => {
    frustumPoints.push(new THREE.Vector3(), corner, corner, corners[(i + 1) % 4]);
  });
  const frustum = new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints(frustumPoints),
    new THREE.LineBasicMaterial({ color: 0xffffff }));
  frustum.matrixAutoUpdate = false;
  scene.add(frustum);

  function cameraMatrix(frame) {
    // X_world = R_wc X_cam + t_wc, camera axes x right, y down, z forward (OpenCV).
    const R = data.camera.R_wc[frame], t = data.camera.t_wc[frame];
    return new THREE.Matrix4().set(R[0], R[1], R[2], t[0], R[3], R[4], R[5], t[1], R[6], R[7], R[8], t[2],
      0, 0, 0, 1);
  }

  // Views: an orbiting camera, or the video's camera (its intrinsics as the projection).
  // The orbit starts behind the video camera's first place, looking down 25 degrees at the people.
  const orbitCamera = new THREE.PerspectiveCamera(45, aspect, 0.05, 500);
  const roots = data.people.flatMap((person) => person.root);
  const centre = new THREE.Vector3();
  for (const root of roots.length ? roots : [data.camera.t_wc[0]]) centre.add(new THREE.Vector3(...root));
  centre.divideScalar(Math.max(roots.length, 1)).setY(0.9);
  const back = new THREE.Vector3(...data.camera.t_wc[0]).sub(centre).setY(0);
  const distance = Math.max(4, 1.6 * back.length());
  if (back.length() < 1e-3) back.set(0, 0, -1);
  const tilt = 25 * Math.PI / 180;
  orbitCamera.position.copy(centre).addScaledVector(back.normalize(), distance * Math.cos(tilt))
    .add(new THREE.Vector3(0, distance * Math.sin(tilt), 0));
  const controls = new THREE.OrbitControls(orbitCamera, canvas);
  controls.target.copy(centre);
  controls.update();
  controls.addEventListener('change', () => render());
  const videoCamera = new THREE.PerspectiveCamera();
  videoCamera.matrixAutoUpdate = false;
  const near = 0.05, far = 500;
  videoCamera.projectionMatrix.set(
    2 * fx / data.width, 0, 1 - 2 * cx / data.width, 0,
    0, 2 * fy / data.height, 2 * cy / data.height - 1, 0,
    0, 0, -(far + near) / (far - near), -2 * far * near / (far - near),
    0, 0, -1, 0);
  videoCamera.projectionMatrixInverse.copy(videoCamera.projectionMatrix).invert();
  const flipYZ = new THREE.Matrix4().makeScale(1, -1, -1);  // OpenCV camera axes -> three.js's

  const bodies = [];
  const loader = new THREE.GLTFLoader();
  function decode(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }
  const loaded = data.people.map((person) => new Promise((resolve, reject) => {
    loader.parse(decode(person.glb), '', (gltf) => {
      gltf.scene.traverse((node) => { if (node.isMesh) node.frustumCulled = false; });
      scene.add(gltf.scene);
      const mixer = new THREE.AnimationMixer(gltf.scene);
      const clip = gltf.animations[0];
      const action = mixer.clipAction(clip);
      action.play();
      bodies.push({ person, root: gltf.scene, mixer, action, duration: clip.duration });
      resolve();
    }, reject);
  }));

  function resize() {
    const width = canvas.clientWidth, height = canvas.clientHeight;
    const ratio = window.devicePixelRatio;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      renderer.setPixelRatio(ratio);
      renderer.setSize(width, height, false);
    }
  }

  function render() {
    resize();
    renderer.render(scene, page.view === 'camera' ? videoCamera : orbitCamera);
  }

  function showFrame(frame) {
    frame = Math.max(0, Math.min(data.frames - 1, Math.round(frame)));
    page.frame = frame;
    for (const body of bodies) {
      const visible = body.person.first <= frame && frame <= body.person.last;
      body.root.visible = visible;
      if (visible) {
        // Just inside the clip's end: a repeating action wraps its last instant back to the start.
        body.action.time = Math.min((frame - body.person.first) / data.fps, body.duration - 1e-6);
        body.mixer.update(0);
      }
    }
    const pose = cameraMatrix(frame);
    frustum.matrix.copy(pose);
    frustum.visible = page.view !== 'camera';
    videoCamera.matrix.copy(pose).multiply(flipYZ);
    videoCamera.matrixWorld.copy(videoCamera.matrix);
    videoCamera.matrixWorldInverse.copy(videoCamera.matrix).invert();
    slider.value = frame;
    label.textContent = `frame ${frame + 1} / ${data.frames}`;
    render();
  }

  // Playback: the video is the clock; without one, the wall clock.
  let playing = false, startedAt = 0, startFrame = 0;
  function tick() {
    if (!playing) return;
    const frame = video ? Math.floor(video.currentTime * data.fps)
      : startFrame + Math.floor((performance.now() - startedAt) / 1000 * data.fps);
    if (frame >= data.frames - 1 || (video && video.ended)) {
      showFrame(data.frames - 1);
      pause();
      return;
    }
    showFrame(frame);
    requestAnimationFrame(tick);
  }
  function play() {
    if (playing) return;
    if (page.frame >= data.frames - 1) page.setFrame(0);
    playing = true;
    playButton.textContent = 'Pause';
    startedAt = performance.now();
    startFrame = page.frame;
    if (video) video.play().catch((error) => { status.textContent = `video: ${error.message}`; });
    requestAnimationFrame(tick);
  }
  function pause() {
    const wasPlaying = playing;
    playing = false;
    playButton.textContent = 'Play';
    if (video) {
      video.pause();
      if (wasPlaying) showFrame(Math.floor(video.currentTime * data.fps));  // where the video stopped
    }
  }

  // Shows a frame in both panes; resolves once the video has seeked to it.
  page.setFrame = (frame) => {
    pause();
    showFrame(frame);
    if (!video) return Promise.resolve(page.frame);
    return new Promise((resolve) => {
      const done = () => { video.removeEventListener('seeked', done); resolve(page.frame); };
      video.addEventListener('seeked', done);
      video.currentTime = (page.frame + 0.5) / data.fps;
    });
  };
  page.setView = (view) => {
    page.view = view;
    controls.enabled = view !== 'camera';
    viewButton.textContent = view === 'camera' ? 'View: video camera' : 'View: orbit';
    showFrame(page.frame);
  };
  page.play = play;
  page.pause = pause;

  playButton.addEventListener('click', () => (playing ? pause() : play()));
  viewButton.addEventListener('click', () => page.setView(page.view === 'camera' ? 'orbit' : 'camera'));
  slider.addEventListener('input', () => page.setFrame(Number(slider.value)));
  window.addEventListener('resize', () => render());
  window.addEventListener('keydown', (event) => {
    if (event.code === 'Space') { event.preventDefault(); playing ? pause() : play(); }
    if (event.code === 'ArrowRight') page.setFrame(page.frame + 1);
    if (event.code === 'ArrowLeft') page.setFrame(page.frame - 1);
  });

  const list = document.getElementById('people');
  for (const person of data.people) {
    const row = document.createElement('div');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = person.colour;
    row.append(swatch, `person ${person.track}, frames ${person.first + 1}-${person.last + 1}`);
    for (const file of person.files) {
      const link = document.createElement('a');
      link.href = file;
      link.textContent = file;
      row.append(link);
    }
    list.appendChild(row);
  }

  Promise.all(loaded).then(() => {
    showFrame(0);
    page.ready = true;
  }, (error) => { status.textContent = `could not load the bodies: ${error}`; });
})();
