/* "Use my location" on the public service map: fills the point from the phone's location
 * (only when the reader asks) and submits the form. Without it, the community choice works. */
(function () {
  "use strict";
  var button = document.getElementById("use-location");
  if (!button || !("geolocation" in navigator)) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = document.getElementById("lat");
      var lon = document.getElementById("lon");
      lat.value = position.coords.latitude.toFixed(6);
      lon.value = position.coords.longitude.toFixed(6);
      lat.disabled = false;
      lon.disabled = false;
      document.getElementById("nearby-form").submit();
    });
  });
})();
